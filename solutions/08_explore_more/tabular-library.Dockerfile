# Chapter 08: the tabular model served by its own library on Lambda, scikit-learn or XGBoost (the course workshop's
# way: the library in the image). BACKEND picks which: sklearn (default) or xgboost. The build context is the
# repository root, as in chapter 04; BuildKit reads this file's own ignore file, tabular-library.Dockerfile.dockerignore
# (the legacy builder reads only the root .dockerignore, which leaves these files out):
#   docker buildx build --platform linux/amd64 --provenance=false --build-arg BACKEND=xgboost \
#       --file solutions/08_explore_more/tabular-library.Dockerfile --tag wine-xgboost:latest .
# What each backend weighs, starts in and costs: benchmarks/tabular_results.md (make bench-tabular).

# The Lambda base image for Python 3.13, pinned by the same digest as chapter 04's Dockerfile (its comment says where
# the digest comes from and how to move it; tests/test_tabular.py keeps the two equal).
FROM public.ecr.aws/lambda/python:3.13@sha256:11f562115ca14c92740459230f0a6c0dbf8d27152400f852856d73e0a924a0a0

ARG BACKEND=sklearn

# Only the backend's library and what it needs (NumPy, SciPy; joblib and threadpoolctl for scikit-learn), pinned with
# hashes, as wheels only, without pip's cache.
COPY requirements/tabular-${BACKEND}.txt /tmp/requirements.txt
RUN pip install --no-cache-dir --only-binary=:all: --require-hashes \
        --requirement /tmp/requirements.txt --target "${LAMBDA_TASK_ROOT}" \
    && rm /tmp/requirements.txt

# The feature names and valid ranges, and both library models (2 KB and 200 KB): the handler loads its backend's.
# Made readable by Lambda's non-root user whatever the modes in the checkout (chapter 04 explains why).
COPY models/tabular/features.json models/tabular/sklearn.joblib models/tabular/xgboost.json ${LAMBDA_TASK_ROOT}/
RUN chmod 0644 "${LAMBDA_TASK_ROOT}/features.json" "${LAMBDA_TASK_ROOT}/sklearn.joblib" \
               "${LAMBDA_TASK_ROOT}/xgboost.json"

COPY solutions/08_explore_more/tabular_handler.py ${LAMBDA_TASK_ROOT}/
RUN chmod 0644 "${LAMBDA_TASK_ROOT}/tabular_handler.py"

ENV TABULAR_BACKEND=${BACKEND}
CMD ["tabular_handler.lambda_handler"]
