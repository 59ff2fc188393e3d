package pgsvc.pooler;

import java.util.Map;

import pgsvc.pooler.config.Config;
import pgsvc.pooler.config.UserEntry;

/**
 * The client-side timeouts in force, in nanoseconds (0 = off): the [pgbouncer] values, each overridden by a
 * positive value in the user's [users] entry, as PgBouncer resolves them; and server_fast_close, which the same
 * sweep applies to session-mode links.
 */
record ClientTimeouts(long clientIdle, long query, long idleTransaction, long transaction,
        Map<String, UserEntry> users, boolean anyUserOverride, boolean fastClose, long waitNotify) {

    static ClientTimeouts of(Config c) {
        boolean override = false;
        for (UserEntry u : c.users().values()) {
            override |= u.clientIdleTimeout() != null || u.queryTimeout() != null
                    || u.idleTransactionTimeout() != null || u.transactionTimeout() != null;
        }
        return new ClientTimeouts(c.getMicros("client_idle_timeout") * 1000, c.getMicros("query_timeout") * 1000,
                c.getMicros("idle_transaction_timeout") * 1000, c.getMicros("transaction_timeout") * 1000,
                c.users(), override, c.getBool("server_fast_close"), c.getInt("query_wait_notify") * 1_000_000_000L);
    }


    long clientIdle(String user) {
        UserEntry u = anyUserOverride ? users.get(user) : null;
        return u != null && u.clientIdleTimeout() != null ? seconds(u.clientIdleTimeout()) : clientIdle;
    }

    long query(String user) {
        UserEntry u = anyUserOverride ? users.get(user) : null;
        return u != null && u.queryTimeout() != null ? seconds(u.queryTimeout()) : query;
    }

    long idleTransaction(String user) {
        UserEntry u = anyUserOverride ? users.get(user) : null;
        return u != null && u.idleTransactionTimeout() != null ? seconds(u.idleTransactionTimeout()) : idleTransaction;
    }

    long transaction(String user) {
        UserEntry u = anyUserOverride ? users.get(user) : null;
        return u != null && u.transactionTimeout() != null ? seconds(u.transactionTimeout()) : transaction;
    }

    private static long seconds(int s) {
        return s * 1_000_000_000L;
    }
}
