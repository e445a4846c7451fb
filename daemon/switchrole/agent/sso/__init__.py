"""IAM Identity Center: ``center`` speaks its OIDC service and portal, ``signins`` holds one
sign-in per sso-session in memory (single-flight device authorization, refresh ahead of expiry),
``cli_cache`` reads the token `aws sso login` left, read-only."""
