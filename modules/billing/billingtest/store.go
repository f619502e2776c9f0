package billingtest

// The SQL of billingtest (the house rule: a package's SQL lives in its store files).

// qSetBalance moves the balance to $3 and writes the ADJUSTMENT ledger row of the difference
// (none when there is no difference).
const qSetBalance = `
WITH old AS (SELECT credit_balance AS balance FROM workspaces WHERE id = $2 FOR UPDATE),
     upd AS (UPDATE workspaces SET credit_balance = $3, updated_at = now() WHERE id = $2 RETURNING id)
INSERT INTO credit_ledger (id, workspace_id, delta, reason, ref_id, balance)
SELECT $1, $2, $3 - old.balance, 'ADJUSTMENT', 'test-setup', $3 FROM old, upd WHERE $3 <> old.balance`

const qSetPlan = `UPDATE workspaces SET plan = $2, updated_at = now() WHERE id = $1`

const qExists = `SELECT count(*) FROM workspaces WHERE id = $1`
