package pgsvc.pooler;

import java.util.function.Consumer;

/**
 * The console's SHOW tables for readers outside the console, such as the Prometheus endpoint: the same columns and
 * values an exporter would read over the admin console, without a connection. Tables that come from the pools or
 * from every event loop are taken asynchronously, as the console takes them, so no caller waits on a loop.
 */
public final class Snapshots {
    private Snapshots() {
    }

    /**
     * Hands {@code done} the table of {@code SHOW <what>} (upper case), or null for a SHOW the console does not have.
     * {@code done} runs on whichever thread answered last: the caller's, a pool's executor or an event loop.
     *
     * <p>A SHOW that the console answers asynchronously must be listed here as well (POOLS, LISTS); every other one
     * comes from the console's synchronous table code (STATS_TOTALS, DATABASES, CONFIG, ...), the router's SHOW HOSTS
     * and SERVICES included.
     */
    public static void show(Pooler pooler, String what, Consumer<ConsoleTable> done) {
        switch (what) {
            case "POOLS" -> pooler.poolRows(rows -> done.accept(ConsoleConnection.pools(rows)));
            case "LISTS" -> pooler.socketRows(rows -> done.accept(ConsoleShows.lists(pooler, rows)));
            default -> done.accept(ConsoleConnection.show(pooler, what));
        }
    }
}
