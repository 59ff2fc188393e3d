package pgsvc.router;

/** A member's role as its own checks report it: writable primary, a server in recovery, or not known yet. */
enum MemberRole {
    PRIMARY, REPLICA, UNKNOWN;

    String label() {
        return name().toLowerCase(java.util.Locale.ROOT);
    }
}
