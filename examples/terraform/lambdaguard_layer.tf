# Adding the lambdaguard layer to an existing function with Terraform.
#
# Publish the zip `make layer` built for the function's runtime and
# architecture, then add three settings to the function: the layer, the exec
# wrapper, and the collector's address. Nothing in the function's code changes.

variable "collector_url" {
  type        = string
  description = "Base URL of the lambdaguard collector (OTLP/HTTP); /v1/traces is appended."
}

variable "collector_token" {
  type      = string
  sensitive = true
}

resource "aws_lambda_layer_version" "lambdaguard" {
  layer_name               = "lambdaguard-python3-12-arm64"
  filename                 = "${path.module}/../../dist/layer/lambdaguard-python3.12-arm64.zip"
  source_code_hash         = filebase64sha256("${path.module}/../../dist/layer/lambdaguard-python3.12-arm64.zip")
  compatible_runtimes      = ["python3.12"]
  compatible_architectures = ["arm64"]
}

resource "aws_lambda_function" "nightly_report" {
  function_name = "nightly-report"
  role          = var.role_arn
  runtime       = "python3.12"
  architectures = ["arm64"]
  handler       = "app.handler"
  filename      = var.package_zip
  layers        = [aws_lambda_layer_version.lambdaguard.arn]

  environment {
    variables = {
      AWS_LAMBDA_EXEC_WRAPPER = "/opt/lambdaguard-instrument"
      LAMBDAGUARD_ENDPOINT    = var.collector_url
      LAMBDAGUARD_TOKEN       = var.collector_token
      # ... the function's own variables
    }
  }
}

variable "role_arn" {
  type = string
}

variable "package_zip" {
  type        = string
  description = "The function's deployment package (examples/functions/nightly_report plus Powertools)."
}
