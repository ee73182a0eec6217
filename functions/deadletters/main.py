"""The ``deadletters`` function: the cluster-local sink for events Knative gave up delivering."""

import functions_framework

from shared.deadletters import serve
from shared.preflight import check_at_start

check_at_start("deadletters")  # refuse to serve with broken settings (shared/preflight.py)


@functions_framework.http
def deadletters(request):
    return serve(request)
