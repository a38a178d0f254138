"""The citizen portal: status lookup, rating one's own answer, and the public answers (R9.3, R12.1)."""

from desks.portal.routes import PORTAL, PortalDeps, add_portal_routes

__all__ = ["PORTAL", "PortalDeps", "add_portal_routes"]
