package pgsvc.pooler;

/**
 * What the console asks of the whole process rather than of the pooler: RELOAD, SET and SHUTDOWN. The router's
 * process installs it ({@link Pooler#processControl(ProcessControl)}), since it owns the file, the listeners and the
 * exit; the calls come on a thread that may block, never on an event loop.
 */
public interface ProcessControl {

    /** PgBouncer's three SHUTDOWN forms. */
    enum Shutdown {
        /** {@code SHUTDOWN}: exit now. */
        IMMEDIATE,
        /** {@code SHUTDOWN WAIT_FOR_SERVERS}: pause, stop accepting, exit once every server is released. */
        WAIT_FOR_SERVERS,
        /** {@code SHUTDOWN WAIT_FOR_CLIENTS}: stop accepting, exit once the last client has left. */
        WAIT_FOR_CLIENTS
    }

    /** RELOAD: reads the configuration again and applies it whole; false (and logged) if it could not. */
    boolean reload();

    /** SET key = value on the running configuration; null when applied, else why not (for the log). */
    String set(String key, String value);

    void shutdown(Shutdown mode);
}
