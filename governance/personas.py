"""The demo's personas: who a visitor of the demo workspace may act as, with their display names and roles.

Apart from :mod:`governance.demo` (which builds the demo with numpy and pandas) so that the sign-in screen reads
them without loading what building the demo needs.
"""

from __future__ import annotations

DEMO_DOMAIN = "demo.countersign.dev"
PERSONAS: dict[str, tuple[str, str]] = {
    # email -> (display name, role)
    f"risk.officer@{DEMO_DOMAIN}": ("Rita Okafor (risk officer)", "risk_officer"),
    f"validator@{DEMO_DOMAIN}": ("Victor Lang (model validator)", "risk_officer"),
    f"ml.engineer@{DEMO_DOMAIN}": ("Mia Chen (ML engineer)", "ml_engineer"),
    f"data.scientist@{DEMO_DOMAIN}": ("Dev Patel (data scientist)", "data_scientist"),
    f"auditor@{DEMO_DOMAIN}": ("Ada Brandt (internal audit)", "auditor"),
    f"admin@{DEMO_DOMAIN}": ("Sam Admin (platform admin)", "admin"),
}
