FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml constraints.txt README.md ./
COPY fake_provider ./fake_provider
COPY reference_app ./reference_app
COPY harness ./harness
COPY scenarios ./scenarios
RUN pip install --no-cache-dir -c constraints.txt .
EXPOSE 8000 12111
CMD ["nodouble", "--help"]
