# Open WebUI 0.12.4 from PyPI on the Debian base (docker/build.py), CPU torch only, offline.
#
# PIP_FILES is a URL on the host's loopback where docker/build.py serves, during the build only:
# torch's CPU wheel as the host's pip finds it, a constraint pinning it (from PyPI, pip would pull
# a CUDA build and several GB of nvidia-* packages) and the CA bundle the host's pip trusts
# (TLS-intercepting proxies). Fetched and used in one step, none of them stays in the image.
ARG BASE=gemmaiku/debian:bookworm
FROM ${BASE}
ARG OPEN_WEBUI_VERSION=0.12.4
ARG PIP_FILES
RUN python3 -c 'import sys, urllib.request as r; [r.urlretrieve(f"{sys.argv[1]}/{n}", f"/tmp/{n}") for n in sys.argv[2:]]' \
      "$PIP_FILES" ca.crt constraints.txt \
 && python3 -m venv /opt/open-webui \
 && PIP_CERT=/tmp/ca.crt PIP_CONSTRAINT=/tmp/constraints.txt PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    /opt/open-webui/bin/pip install --find-links "$PIP_FILES/" torch "open-webui==${OPEN_WEBUI_VERSION}" \
 && rm /tmp/ca.crt /tmp/constraints.txt \
 && if /opt/open-webui/bin/pip list 2>/dev/null | grep -iE '^(nvidia-|triton )'; then \
      echo "CUDA packages were pulled in" >&2; exit 1; fi \
 && /opt/open-webui/bin/open-webui --help >/dev/null
# Start offline: no model downloads, embeddings through the Ollama API (gemmaiku.serve.webui.OFFLINE_ENV).
ENV PATH=/opt/open-webui/bin:$PATH \
    DATA_DIR=/app/backend/data \
    HOST=0.0.0.0 \
    PORT=8080 \
    OFFLINE_MODE=true \
    HF_HUB_OFFLINE=1 \
    RAG_EMBEDDING_ENGINE=ollama \
    ENABLE_OPENAI_API=false \
    ENABLE_OLLAMA_API=true \
    ENABLE_VERSION_UPDATE_CHECK=false \
    ENABLE_COMMUNITY_SHARING=false \
    ANONYMIZED_TELEMETRY=false \
    DO_NOT_TRACK=true \
    SCARF_NO_ANALYTICS=true
# The working directory is the data volume: a generated .webui_secret_key survives a new container.
WORKDIR /app/backend/data
EXPOSE 8080
# bash's /dev/tcp: a check that costs no Python start-up (those piled up on a busy CPU)
HEALTHCHECK --interval=15s --timeout=5s --start-period=300s --retries=3 \
  CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/$PORT && printf 'GET /health HTTP/1.0\\r\\n\\r\\n' >&3 && read -r status <&3 && [[ $status == *' 200 '* ]]"]
CMD ["sh", "-c", "exec open-webui serve --host \"$HOST\" --port \"$PORT\""]
