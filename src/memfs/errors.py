"""Every error memfs raises. Each class carries its errno (for the mount), its HTTP status and
error type (for the API) and its exit code (for the CLI), so front ends translate in one place."""

import errno as _errno


class MemfsError(Exception):
    errno = _errno.EIO
    http_status = 500
    error_type = "api_error"
    exit_code = 1

    def __init__(self, message: str, **details):
        super().__init__(message)
        self.message = message
        self.details = details


class NotFound(MemfsError):
    errno = _errno.ENOENT
    http_status = 404
    error_type = "not_found_error"
    exit_code = 3


class StoreNotFound(NotFound):
    pass


class PathNotFound(NotFound):
    pass


class RevisionNotFound(NotFound):
    pass


class AlreadyExists(MemfsError):
    errno = _errno.EEXIST
    http_status = 409
    error_type = "memory_path_conflict_error"
    exit_code = 4


class PreconditionFailed(MemfsError):
    """A write's expected version is not the stored one. `current_sha256` is what is stored
    (None when the path does not exist)."""

    errno = _errno.ESTALE
    http_status = 409
    error_type = "memory_precondition_failed_error"
    exit_code = 5

    def __init__(self, message: str, current_sha256=None, **details):
        super().__init__(message, current_sha256=current_sha256, **details)
        self.current_sha256 = current_sha256


class Leased(PreconditionFailed):
    """Another session is rewriting the file right now (it holds the write lease, from its first
    write() to its close()); treated like a stale write."""


class InvalidInput(MemfsError):
    errno = _errno.EINVAL
    http_status = 400
    error_type = "invalid_request_error"
    exit_code = 2


class InvalidName(InvalidInput):
    pass


class NotADatabase(InvalidInput):
    """The database path or URL holds something else: another file, another application's
    database. memfs neither reads it nor adds its tables to it."""


class NameTooLong(InvalidInput):
    errno = _errno.ENAMETOOLONG


class ContentTooLarge(InvalidInput):
    errno = _errno.EFBIG
    http_status = 413
    error_type = "request_too_large"


class ReadOnly(MemfsError):
    errno = _errno.EROFS
    http_status = 403
    error_type = "permission_error"
    exit_code = 6


class NotADirectory(InvalidInput):
    errno = _errno.ENOTDIR
    http_status = 409


class IsADirectory(InvalidInput):
    errno = _errno.EISDIR
    http_status = 409


class DirectoryNotEmpty(InvalidInput):
    errno = _errno.ENOTEMPTY
    http_status = 409


class CrossStore(InvalidInput):
    errno = _errno.EXDEV


class NotPermitted(MemfsError):
    errno = _errno.EPERM
    http_status = 403
    error_type = "permission_error"
    exit_code = 6


class Busy(MemfsError):
    """The database stayed locked by another process for longer than the busy timeout."""

    errno = _errno.EAGAIN
    http_status = 503
    error_type = "overloaded_error"
    exit_code = 7


class Unavailable(MemfsError):
    """The database server cannot be reached (PostgreSQL down, network gone): retry later."""

    errno = _errno.EIO
    http_status = 503
    error_type = "api_error"
    exit_code = 11


class StorageFull(MemfsError):
    errno = _errno.ENOSPC
    http_status = 507
    error_type = "api_error"
    exit_code = 8


class SchemaTooNew(MemfsError):
    exit_code = 10


class CurrentVersion(InvalidInput):
    """Redacting the version a live file still shows: change or delete the file first."""

    errno = _errno.EBUSY
    http_status = 409
    error_type = "invalid_request_error"


class Unauthenticated(MemfsError):
    """The HTTP API got no API key, or one it does not know (or that was revoked)."""

    errno = _errno.EACCES
    http_status = 401
    error_type = "authentication_error"
    exit_code = 6


class HookRefused(MemfsError):
    """A write hook of the store refused the write (or failed, with the hook set to fail closed).
    `reason` is what the hook said (or why it failed); the message names the hook."""

    errno = _errno.EACCES
    http_status = 422
    error_type = "hook_refused_error"
    exit_code = 9

    def __init__(self, message: str, reason: str = "", hook_id=None, **details):
        super().__init__(message, reason=reason, hook_id=hook_id, **details)
        self.reason = reason
        self.hook_id = hook_id
