"""The ``api`` function: Masakari API v1 over HTTP (see shared/api for the pipeline)."""

import functions_framework

from shared import logs
from shared.api.app import handle, startup
from shared.preflight import check_at_start

check_at_start("api")  # refuse to serve with broken settings (shared/preflight.py)

logs.setup("api")
startup()


@functions_framework.http
def api(request):
    return logs.served(request, handle)
