"""Where the source controller's Git credentials code used to live; now `sluice.git`.

Kept so existing imports keep working: `GitAuth`, `Scrubber` and `safe_url`
come from `sluice.git.auth`; `Session`, `Refused` and `Cancelled` (libgit2
callbacks, for code that drives pygit2 itself, like `sluice bootstrap`) from
`sluice.git.session`.
"""

from sluice.git.auth import GitAuth, Scrubber, check_url, safe_url
from sluice.git.session import Cancelled, Refused, Session

__all__ = ["Cancelled", "GitAuth", "Refused", "Scrubber", "Session", "check_url", "safe_url"]
