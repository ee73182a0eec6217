# One image for all four Vigil functions; the Knative Service picks one with FUNCTION and
# SIGNATURE_TYPE (infra/knative/services.yaml). Knative sets PORT; THREADS (gunicorn threads)
# matches the Service's containerConcurrency. `vigil dev` starts its local functions with this
# same CMD, so what runs on a laptop is what runs in the cluster.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY shared ./shared
COPY vigil ./vigil
COPY vigilsim ./vigilsim
RUN pip install . && useradd --system --uid 10001 --no-create-home vigil
COPY functions ./functions

USER 10001
ENV FUNCTION=api \
    SIGNATURE_TYPE=http \
    PORT=8080
EXPOSE 8080
CMD ["sh", "-c", "exec functions-framework --source \"functions/$FUNCTION/main.py\" --target \"$FUNCTION\" --signature-type \"$SIGNATURE_TYPE\""]
