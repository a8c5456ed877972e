echo "models refreshed in run $PIT_RUN_ID"
