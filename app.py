"""The workbench's main job, as `make demo` runs it: `python app.py [--data DIR]`.

Today that is the demo sweep on the embedded simulator (`workbench demo`). The Gradio app
(ROADMAP item 3) takes this place when its issue lands; the library stays where it is.
"""

import sys

from workbench.cli import main

if __name__ == "__main__":
    # Global options (--data, -v) first, then the command.
    main([*sys.argv[1:], "demo"])
