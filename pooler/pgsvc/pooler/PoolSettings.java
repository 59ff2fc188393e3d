package pgsvc.pooler;

import java.util.Map;

import pgsvc.pooler.config.PoolMode;

/**
 * What a pool needs from the configuration, resolved once (user over database over global, as PgBouncer does) so
 * the data path never looks anything up.
 *
 * @param host             server host; null means the Unix socket directory
 * @param serverUser       the user the pool logs in to PostgreSQL as (a forced user, or the client's)
 * @param serverPassword   a plaintext password or an md5/SCRAM secret for that user, null if none is known
 * @param startupParams    extra StartupMessage parameters from the [databases] entry
 */
record PoolSettings(
        String host,
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
        int maxUserConnections) {
}
