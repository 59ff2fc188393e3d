package pgsvc.router;

import java.util.Set;

import pgsvc.pooler.Endpoint;
import pgsvc.pooler.config.HostEntry;

/**
 * One member as the router sees it at one moment; immutable, published by the member's checks.
 *
 * @param up        health: DOWN until the first check passes, then HAProxy's rise/fall
 * @param role      the role confirmed by {@code rise} consecutive checks (UNKNOWN while a change is confirmed)
 * @param lsn       the primary's current WAL position or a replica's replay position, in bytes
 * @param delayed   a replica with recovery_min_apply_delay > 0
 * @param syncNames on a primary, application names of its synchronous standbys
 * @param replayAgeSeconds on a replica, seconds since the last replayed transaction committed on the primary
 *                  (grows on an idle primary too, so it is shown, not routed on); -1 if unknown
 */
record MemberView(HostEntry host, Endpoint endpoint, boolean up, MemberRole role, long lsn, boolean delayed,
                  Set<String> syncNames, double replayAgeSeconds, String lastError, long checks, long failures) {

    String name() {
        return host.name();
    }
}
