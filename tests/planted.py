"""Notes planted in stores by the dream and API tests: two agents' copies of one runbook."""

DISK = """# Disk alerts

When the disk alert fires on the ingest hosts, check usage with df -h and inode usage with df -i
before anything else, then look for old logs under the application log directory.

- rotate the application logs with logrotate -f when they exceed ten gigabytes
- never delete files under the data directory without asking the on-call engineer first
"""

DISK_BOB = """# Disk alert notes

When the disk alert fires on the ingest hosts, check usage with df -h and inode usage with df -i
before anything else, then look for old logs under the application log directory.

- rotate the application logs with logrotate -f when they exceed ten gigabytes
- never delete files under the data directory without asking the on-call engineer first

Compressed core dumps in the crash directory can be removed after a week.
"""
