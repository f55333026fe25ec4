"""Session workflows by the name a session asks for (`"workflow": "default"` in the Fenix API)."""

from __future__ import annotations

from workflows.session import MaintenanceSessionWorkflow

SESSION_WORKFLOWS = {"default": MaintenanceSessionWorkflow, "vnf": MaintenanceSessionWorkflow}
