"""Names of short-lived files that editors and tools write next to the file they save.

A file created through the mount under such a name is kept by the mount instead of being
committed on close: renamed onto a real name it becomes one revision of the target (how `sed -i`,
rsync, git and many editors save); removed, it leaves no trace; left behind, it is committed after
a short grace period or at unmount."""

import re

_PATTERNS = [
    r"sed[A-Za-z0-9]{6}",            # GNU sed -i
    r"4913",                          # vim's probe for a writable directory
    r"\..+\.sw[a-p]", r"\..+\.swx",   # vim swap files
    r".+~",                           # backups (vim, emacs, nano)
    r"\.#.+", r"#.+#",                # emacs lock and auto-save files
    r".+\.tmp", r".+\.temp",
    r".+\.lock",                      # git index.lock, config.lock, ...
    r"tmp_obj_[A-Za-z0-9]+",          # git loose objects before they are linked or renamed
    r"tmp[a-z0-9_]{8}",               # Python tempfile in the target directory
    r"\..+\.[A-Za-z0-9]{6}",          # rsync's .name.XXXXXX
    r"\.~lock\..+#",                  # LibreOffice
]
_RE = re.compile("|".join(f"(?:{p})" for p in _PATTERNS))
_GIT_PROBE = re.compile(r"t[A-Za-z0-9]{6}")  # git init's probes (symlinks, case) inside .git


def is_scratch(name: str, dirname: str = "") -> bool:
    return _RE.fullmatch(name) is not None or (dirname == ".git" and _GIT_PROBE.fullmatch(name) is not None)
