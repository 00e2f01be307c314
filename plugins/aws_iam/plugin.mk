# AWS IAM / STS lease plugin: IAM users with access keys, AssumeRole and
# GetFederationToken sessions, over the Query API (libcurl), signed with the
# SDK's SigV4 (libcrypto), responses read with libxml2.
aws_iam_PKGS := libcurl libxml-2.0 libcrypto
