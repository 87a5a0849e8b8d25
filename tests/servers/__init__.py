"""Start real servers (redis, memcached, PostgreSQL) for the tests, and stop them after.

Each server module installs nothing: ``scripts/test`` installs the Debian
packages.  Servers listen on 127.0.0.1 on ports chosen here, in a fresh
temporary directory, and are stopped by the PID recorded at start.
"""
