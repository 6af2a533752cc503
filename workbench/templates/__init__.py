"""Templates: the library of named styles (library.py), applying one to a new face (apply.py)
and checking that the API still renders them as it did (drift.py)."""

from workbench.templates.apply import AppliedTemplate, apply_template, prepare_face
from workbench.templates.drift import (
    IDENTITY_DRIFT_THRESHOLD,
    STYLE_DRIFT_THRESHOLD,
    DriftReport,
    FaceDrift,
    TemplateDrift,
    check_drift,
)
from workbench.templates.library import (
    SCHEMA_VERSION,
    STATUSES,
    ImportReport,
    Provenance,
    Template,
    TemplateError,
    TemplateFile,
    TemplateLibrary,
    TemplateScores,
    json_schema,
    read_template_file,
    slugify,
    template_from_catalogue,
    template_from_request_key,
    write_schema,
)

__all__ = [
    "IDENTITY_DRIFT_THRESHOLD",
    "SCHEMA_VERSION",
    "STATUSES",
    "STYLE_DRIFT_THRESHOLD",
    "AppliedTemplate",
    "DriftReport",
    "FaceDrift",
    "ImportReport",
    "Provenance",
    "Template",
    "TemplateDrift",
    "TemplateError",
    "TemplateFile",
    "TemplateLibrary",
    "TemplateScores",
    "apply_template",
    "check_drift",
    "json_schema",
    "prepare_face",
    "read_template_file",
    "slugify",
    "template_from_catalogue",
    "template_from_request_key",
    "write_schema",
]
