# Chapter 08: the tabular model exported to ONNX, served by ONNX Runtime on Lambda: no scikit-learn, SciPy or XGBoost
# in the image. MODEL picks which export: sklearn (default) or xgboost. The build context is the repository root, as
# in chapter 04; BuildKit reads this file's own ignore file, tabular-onnx.Dockerfile.dockerignore (the legacy builder
# reads only the root .dockerignore, which leaves these files out):
#   docker buildx build --platform linux/amd64 --provenance=false --build-arg MODEL=xgboost \
#       --file solutions/08_explore_more/tabular-onnx.Dockerfile --tag wine-xgboost-onnx:latest .
# What it weighs, starts in and costs beside the libraries: benchmarks/tabular_results.md (make bench-tabular).

# The Lambda base image for Python 3.13, pinned by the same digest as chapter 04's Dockerfile (its comment says where
# the digest comes from and how to move it; tests/test_tabular.py keeps the two equal). Amazon Linux 2023: ONNX
# Runtime needs glibc 2.28, which Amazon Linux 2 (python:3.11 and older) does not have.
FROM public.ecr.aws/lambda/python:3.13@sha256:11f562115ca14c92740459230f0a6c0dbf8d27152400f852856d73e0a924a0a0

ARG MODEL=sklearn

# ONNX Runtime and NumPy (with flatbuffers, packaging, protobuf), pinned with hashes, as wheels only, no pip cache.
COPY requirements/tabular-onnx.txt /tmp/requirements.txt
RUN pip install --no-cache-dir --only-binary=:all: --require-hashes \
        --requirement /tmp/requirements.txt --target "${LAMBDA_TASK_ROOT}" \
    && rm /tmp/requirements.txt

# The feature names and valid ranges, and the one ONNX model; readable by Lambda's non-root user (see chapter 04).
COPY models/tabular/features.json models/tabular/${MODEL}.onnx ${LAMBDA_TASK_ROOT}/
RUN chmod 0644 "${LAMBDA_TASK_ROOT}/features.json" "${LAMBDA_TASK_ROOT}/${MODEL}.onnx"

COPY solutions/08_explore_more/tabular_handler.py ${LAMBDA_TASK_ROOT}/
RUN chmod 0644 "${LAMBDA_TASK_ROOT}/tabular_handler.py"

ENV TABULAR_BACKEND=${MODEL}-onnx
CMD ["tabular_handler.lambda_handler"]
