package channels

// store owns the module's SQL and runs it on a sqlx.ExtContext (the pool or a transaction).
type store struct{}
