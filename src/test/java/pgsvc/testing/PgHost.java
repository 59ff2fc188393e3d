package pgsvc.testing;

import java.time.Duration;

/**
 * Where a PostgreSQL server's files and processes live: this machine ({@link LocalPgHost}) or a Docker container
 * ({@link ContainerPgHost}). Paths are as the host sees them.
 */
interface PgHost extends AutoCloseable {

    /** True when paths are on this machine, so a test can use the data and socket directories itself. */
    boolean local();

    /** The directory of initdb, pg_ctl and pg_basebackup. */
    String binDir();

    /** A directory for data directories, sockets and logs, writable by the server's OS user. */
    String baseDir();

    /** Runs a server program as the OS user that owns the data directories. */
    ProcResult exec(Duration timeout, String... cmd);

    void writeFile(String path, String content);

    /** The file's text, or "" if it does not exist. */
    String readFile(String path);

    /** A port for a new server to listen on, inside the host. */
    int newServerPort();

    String listenAddresses();

    /** The pg_hba.conf address covering tests, the pooler under test and the other server of the cluster. */
    String clientNetwork();

    /** The address a test on this machine connects to. */
    String clientHost();

    /** The port a test on this machine connects to for a server listening on {@code serverPort}. */
    int clientPort(int serverPort);

    /** The address by which the other server of the cluster reaches this host. */
    String peerHost();

    @Override
    void close();
}
