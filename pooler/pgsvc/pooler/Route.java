package pgsvc.pooler;

/**
 * Chooses, for every server assignment, which PostgreSQL endpoint a client of a listener is served by. Clients of
 * the plain pooler port have no route and use their [databases] entry's host; the router's services supply one that
 * follows the members' live roles. Called on event loops, once per transaction in transaction mode: it must not
 * block and should not allocate.
 */
public interface Route {
    /** The endpoint for the next server, or null when no member can serve this route right now. */
    Endpoint select();

    /**
     * Runs {@code retry} once, on any thread, after the next change of the members' state, so that a client that
     * found no member can choose again instead of failing while a failover completes.
     */
    void whenChanged(Runnable retry);

    /** Whether clients of this route are read-only sessions (a replica service): they get default_transaction_read_only. */
    default boolean readOnly() {
        return false;
    }

    /** A name for errors and logs, e.g. the service name. */
    String name();
}
