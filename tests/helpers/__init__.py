"""What the test modules share beside the fixtures: inputs made here, the shared media's paths, the service's test settings."""
