package pgsvc.pooler;

import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;

import pgsvc.pooler.config.PoolMode;

/**
 * What a pool needs from the configuration, resolved once (user over database over global, as PgBouncer does) so
 * the data path never looks anything up.
 *
 * @param host             the first server host; null means the Unix socket directory
 * @param hosts            every host of a host list, tried round robin per new connection (PgBouncer's
 *                         load_balance_hosts=round-robin) or in turn after a failure (stickyHost, =disable)
 * @param hostCursor       which host comes next; shared by the pool's connects
 * @param serverUser       the user the pool logs in to PostgreSQL as (a forced user, or the client's)
 * @param serverPassword   a plaintext password or an md5/SCRAM secret for that user, null if none is known
 * @param startupParams    extra StartupMessage parameters from the [databases] entry
 * @param connectQuery     run once after each server login (connect_query), null if none
 * @param checkQuery       run before reusing a server idle longer than checkDelayMicros (server_check_query); ""
 *                         is PgBouncer's {@code <empty>}, an empty Query; null disables the check
 */
record PoolSettings(
        String host,
        List<String> hosts,
        boolean stickyHost,
        AtomicInteger hostCursor,
        int port,
        String dbname,
        String serverUser,
        String serverPassword,
        Map<String, String> startupParams,
        PoolMode mode,
        int poolSize,
        boolean roundRobin,
        long loginRetryMicros,
        long connectTimeoutMicros,
        long queryWaitTimeoutMicros,
        long lifetimeMicros,
        String resetQuery,
        int minPoolSize,
        int reservePoolSize,
        long reservePoolTimeoutMicros,
        long idleTimeoutMicros,
        int maxDbConnections,
        int maxUserConnections,
        String connectQuery,
        String checkQuery,
        long checkDelayMicros,
        int maxPreparedStatements) {

    /** The host for the next server connection. */
    String nextHost() {
        if (hosts.size() <= 1) {
            return host;
        }
        int i = stickyHost ? hostCursor.get() : hostCursor.getAndIncrement();
        return hosts.get(Math.floorMod(i, hosts.size()));
    }

    /** A connection to the current host failed: with sticky hosts the next one is tried from now on. */
    void hostFailed() {
        if (stickyHost) {
            hostCursor.incrementAndGet();
        }
    }
}
