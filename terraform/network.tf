# Network: a VPC with public and private subnets in 2-3 AZs; the functions run in the private subnets.
#
# How the functions reach AWS without a NAT gateway (dev default, zero fixed cost):
# - DynamoDB and S3: gateway endpoints on every private route table (free).
# - SQS (the processor's dead-letter queue): never called from inside the VPC. The event source mapping's
#   on-failure destination is written by the Lambda service itself with the execution role's
#   sqs:SendMessage permission, outside the function's network path, so no SQS route is needed.
# - X-Ray: with active tracing the runtime sends segments over UDP to the X-Ray daemon that Lambda runs at a
#   link-local address (169.254.79.x) in the execution environment, and that daemon relays them outside the
#   VPC (reports of VPC functions without NAT receiving traces: aws/aws-xray-daemon#26). Verify traces in dev
#   after the first deploy; if code ever calls SQS, X-Ray or another API directly, add it to
#   var.interface_endpoints (PrivateLink, billed per hour and AZ) or enable the NAT gateway.
# - CloudWatch Logs: the function's stdout is shipped by the Lambda service, not through the VPC.

resource "aws_vpc" "this" {
  #checkov:skip=CKV2_AWS_11:Flow logs are aws_flow_log.vpc below, on unless var.enable_flow_logs is false; checkov cannot follow the count.
  cidr_block           = var.vpc_cidr
  enable_dns_support   = true
  enable_dns_hostnames = true # required for private DNS of interface endpoints

  tags = { Name = "${local.prefix}-vpc" }
}

# Every accepted and rejected flow of the VPC's interfaces (the functions' ENIs, endpoints, NAT) goes to a
# KMS-encrypted log group (monitoring.tf) through a role only this account's flow logs can assume (iam.tf).
resource "aws_flow_log" "vpc" {
  count = var.enable_flow_logs ? 1 : 0

  vpc_id                   = aws_vpc.this.id
  traffic_type             = "ALL"
  log_destination_type     = "cloud-watch-logs"
  log_destination          = aws_cloudwatch_log_group.vpc_flow_logs[0].arn
  iam_role_arn             = aws_iam_role.vpc_flow_logs[0].arn
  max_aggregation_interval = 600 # the default; 60 costs nothing more in ingestion but writes ten times the records

  tags = { Name = "${local.prefix}-vpc-flow-logs" }

  depends_on = [aws_iam_role_policy.vpc_flow_logs] # the service checks delivery with the role's permissions
}

# Lock down the default security group: nothing should use it, and an open default SG is a common mistake.
resource "aws_default_security_group" "this" {
  vpc_id = aws_vpc.this.id
  tags   = { Name = "${local.prefix}-default-do-not-use" }
}

resource "aws_internet_gateway" "this" {
  vpc_id = aws_vpc.this.id
  tags   = { Name = "${local.prefix}-igw" }
}

resource "aws_subnet" "public" {
  for_each = local.public_subnet_cidrs

  vpc_id                  = aws_vpc.this.id
  availability_zone       = each.key
  cidr_block              = each.value
  map_public_ip_on_launch = false # only NAT gateways (with their own EIPs) live here

  tags = { Name = "${local.prefix}-public-${each.key}", tier = "public" }
}

resource "aws_subnet" "private" {
  for_each = local.private_subnet_cidrs

  vpc_id            = aws_vpc.this.id
  availability_zone = each.key
  cidr_block        = each.value

  tags = { Name = "${local.prefix}-private-${each.key}", tier = "private" }
}

resource "aws_route_table" "public" {
  vpc_id = aws_vpc.this.id
  tags   = { Name = "${local.prefix}-public" }
}

resource "aws_route" "public_internet" {
  route_table_id         = aws_route_table.public.id
  destination_cidr_block = "0.0.0.0/0"
  gateway_id             = aws_internet_gateway.this.id
}

resource "aws_route_table_association" "public" {
  for_each = aws_subnet.public

  subnet_id      = each.value.id
  route_table_id = aws_route_table.public.id
}

resource "aws_eip" "nat" {
  for_each = toset(local.nat_azs)

  domain = "vpc"
  tags   = { Name = "${local.prefix}-nat-${each.key}" }
}

resource "aws_nat_gateway" "this" {
  for_each = toset(local.nat_azs)

  allocation_id = aws_eip.nat[each.key].id
  subnet_id     = aws_subnet.public[each.key].id
  tags          = { Name = "${local.prefix}-nat-${each.key}" }

  depends_on = [aws_internet_gateway.this]
}

# One private route table per AZ, so per-AZ NAT (prod) keeps traffic in its zone.
resource "aws_route_table" "private" {
  for_each = local.private_subnet_cidrs

  vpc_id = aws_vpc.this.id
  tags   = { Name = "${local.prefix}-private-${each.key}" }
}

resource "aws_route" "private_nat" {
  for_each = var.enable_nat_gateway ? local.private_subnet_cidrs : {}

  route_table_id         = aws_route_table.private[each.key].id
  destination_cidr_block = "0.0.0.0/0"
  nat_gateway_id         = aws_nat_gateway.this[var.single_nat_gateway ? local.nat_azs[0] : each.key].id
}

resource "aws_route_table_association" "private" {
  for_each = aws_subnet.private

  subnet_id      = each.value.id
  route_table_id = aws_route_table.private[each.key].id
}

# Gateway endpoints: free, and the only path the functions need (see the header comment).
resource "aws_vpc_endpoint" "gateway" {
  for_each = toset(["dynamodb", "s3"])

  vpc_id            = aws_vpc.this.id
  service_name      = "com.amazonaws.${local.region}.${each.key}"
  vpc_endpoint_type = "Gateway"
  route_table_ids   = [for rt in aws_route_table.private : rt.id]

  tags = { Name = "${local.prefix}-${each.key}-gateway" }
}

resource "aws_security_group" "lambda" {
  #checkov:skip=CKV2_AWS_5:Attached by the app layer: the SAM functions' VpcConfig uses this group (SAM parameter SecurityGroupId), which checkov cannot see from terraform/.
  name        = "${local.prefix}-lambda"
  description = "Lambda functions of ${local.prefix}: egress only, no inbound rules"
  vpc_id      = aws_vpc.this.id

  tags = { Name = "${local.prefix}-lambda" }
}

# HTTPS only. Without NAT the route tables already confine it to the gateway endpoints (and any interface
# endpoints); with NAT it also reaches the internet, which is what enabling NAT asks for.
resource "aws_vpc_security_group_egress_rule" "lambda_https" {
  security_group_id = aws_security_group.lambda.id
  description       = "HTTPS to AWS APIs (gateway/interface endpoints, or NAT when enabled)"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_security_group" "endpoints" {
  count = length(var.interface_endpoints) > 0 ? 1 : 0

  name        = "${local.prefix}-endpoints"
  description = "Interface endpoints of ${local.prefix}: HTTPS from the Lambda security group only"
  vpc_id      = aws_vpc.this.id

  tags = { Name = "${local.prefix}-endpoints" }
}

resource "aws_vpc_security_group_ingress_rule" "endpoints_from_lambda" {
  count = length(var.interface_endpoints) > 0 ? 1 : 0

  security_group_id            = aws_security_group.endpoints[0].id
  description                  = "HTTPS from the functions"
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  referenced_security_group_id = aws_security_group.lambda.id
}

resource "aws_vpc_endpoint" "interface" {
  for_each = var.interface_endpoints

  vpc_id              = aws_vpc.this.id
  service_name        = "com.amazonaws.${local.region}.${each.key}"
  vpc_endpoint_type   = "Interface"
  private_dns_enabled = true
  subnet_ids          = [for s in aws_subnet.private : s.id]
  security_group_ids  = [aws_security_group.endpoints[0].id]

  tags = { Name = "${local.prefix}-${each.key}-interface" }
}
