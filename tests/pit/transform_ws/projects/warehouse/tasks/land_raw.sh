echo "raw files landed for $PIT_DAG_NAME"
