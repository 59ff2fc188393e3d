package pgsvc.pooler;

import java.util.Iterator;
import java.util.LinkedHashMap;

import pgsvc.pooler.PreparedStatements.Statement;

/**
 * What is prepared on one server connection, least recently used first: PgBouncer's per-server statement cache,
 * bounded by max_prepared_statements. Touched only by the client linked to the server, on that client's loop; the
 * link and unlink hand-offs through the pool order one client's changes before the next one's.
 */
final class ServerStatements {
    private final LinkedHashMap<Statement, Boolean> prepared = new LinkedHashMap<>(16, 0.75f, true);

    /** Whether the statement is prepared here; if so it becomes the most recently used. */
    boolean touch(Statement statement) {
        return prepared.get(statement) != null;
    }

    boolean contains(Statement statement) {
        return prepared.containsKey(statement);
    }

    void add(Statement statement) {
        prepared.put(statement, Boolean.TRUE);
    }

    boolean remove(Statement statement) {
        return prepared.remove(statement) != null;
    }

    /** Removes and returns the least recently used statement, or null when none is prepared. */
    Statement removeEldest() {
        Iterator<Statement> it = prepared.keySet().iterator();
        if (!it.hasNext()) {
            return null;
        }
        Statement eldest = it.next();
        it.remove();
        return eldest;
    }

    int size() {
        return prepared.size();
    }

    /** The server dropped every prepared statement (DISCARD ALL, DEALLOCATE ALL). */
    void clear() {
        prepared.clear();
    }
}
