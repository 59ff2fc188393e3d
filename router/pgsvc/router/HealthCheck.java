package pgsvc.router;

/** One way of checking a member (SQL over a dedicated connection, or Patroni's REST API). */
interface HealthCheck {
    /** Makes the check for one member. */
    interface Factory {
        HealthCheck create(Member member);
    }

    /** Runs one check on the member's loop; it ends by calling the member's passed() or failed() exactly once. */
    void run();

    /** Releases the check's connection; the member is being removed. */
    void close();
}
