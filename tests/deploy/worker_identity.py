"""``[core] hostname_callable`` of the test's Celery workers.

Two workers on one machine share its FQDN; each gets a name of its own
(``CDW_TEST_WORKER_HOSTNAME``) so that ``task_instance.hostname`` tells them apart.
Imported by Airflow in the worker processes: keep it free of other imports.
"""

import os
import socket


def hostname() -> str:
    return os.environ.get("CDW_TEST_WORKER_HOSTNAME") or socket.getfqdn()
