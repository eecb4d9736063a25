"""Sessions read through the cache and kept in the database, that keep working while the cache is down.

Django's cached_db engine already falls back to the database when reading the cache
fails, but not when it then writes the session back into the cache, nor in exists()
and delete(). Here each of those falls back to the database alone and logs, so a
Redis outage costs the page its session query again rather than every page failing.
"""

import logging

from django.contrib.sessions.backends import cached_db, db

logger = logging.getLogger(__name__)


class SessionStore(cached_db.SessionStore):
    def load(self):
        try:
            return super().load()
        except Exception:
            logger.warning("Session cache unavailable; reading the session from the database", exc_info=True)
            return db.SessionStore.load(self)

    def exists(self, session_key):
        try:
            return super().exists(session_key)
        except Exception:
            logger.warning("Session cache unavailable; asking the database", exc_info=True)
            return db.SessionStore.exists(self, session_key)

    def delete(self, session_key=None):
        try:
            super().delete(session_key)
        except Exception:
            logger.warning("Session cache unavailable; deleting from the database only", exc_info=True)
            db.SessionStore.delete(self, session_key)
