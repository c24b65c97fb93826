"""DynamoDB access. Logic talks to the Protocols in ``interface``; ``dynamodb`` implements them."""
