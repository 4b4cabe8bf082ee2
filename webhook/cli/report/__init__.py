"""`reload-safe scan`: judge manifests offline, then print the findings for people or machines.

`collect` turns located objects into a `ScanReport`; the formatters (`text`, `as_json`,
`sarif`) only render one, so every format shows the same findings in the same order.
"""

from webhook.cli.report.collect import scan_objects
from webhook.cli.report.model import FINDING_TYPES, Judged, ScanReport, Summary

__all__ = ["FINDING_TYPES", "Judged", "ScanReport", "Summary", "scan_objects"]
