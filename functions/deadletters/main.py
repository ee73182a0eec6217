"""The ``deadletters`` function: the cluster-local sink for events Knative gave up delivering."""

import functions_framework

from shared import logs
from shared.deadletters import serve
from shared.preflight import check_at_start

logs.setup("deadletters")
check_at_start("deadletters")  # refuse to serve with broken settings (shared/preflight.py)


@functions_framework.http
def deadletters(request):
    return logs.served(request, serve)
