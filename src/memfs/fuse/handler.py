"""`handler`: what every request method of the mount wears (library errors become their errno,
anything unexpected EIO, never an exception that takes the mount down), and `fail`."""

from __future__ import annotations

import errno
import functools
import logging

import pyfuse3

from .. import errors

log = logging.getLogger("memfs.fuse")


def handler(fn):
    """Map library errors to their errno; anything unexpected to EIO (an uncaught exception would
    take the whole mount down)."""

    name = fn.__name__

    @functools.wraps(fn)
    async def wrapper(self, *args):
        self.requests[name] = self.requests.get(name, 0) + 1
        try:
            return await fn(self, *args)
        except pyfuse3.FUSEError:
            raise
        except errors.MemfsError as e:
            log.debug("%s: %s", fn.__name__, e)
            raise pyfuse3.FUSEError(e.errno) from None
        except Exception:
            log.exception("unexpected error in %s", fn.__name__)
            raise pyfuse3.FUSEError(errno.EIO) from None

    return wrapper


def fail(code):
    raise pyfuse3.FUSEError(code)
