package runner

// ResolveIn is exported for tests.
var ResolveIn = resolveIn
