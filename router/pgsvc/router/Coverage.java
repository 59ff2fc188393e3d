package pgsvc.router;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;

import pgsvc.pooler.config.Config;
import pgsvc.pooler.config.Setting;

/**
 * Which [pgbouncer] settings this version applies. The parser accepts every PgBouncer setting so that an existing
 * pgbouncer.ini loads; a setting that is set but not applied yet is named in a warning at startup rather than
 * silently ignored. A setting given with its default value is not worth a warning.
 */
final class Coverage {
    static final Set<String> APPLIED = Set.of(
            "admin_users", "auth_dbname", "auth_file", "auth_hba_file", "auth_ident_file", "auth_query",
            "auth_type", "auth_user", "client_login_timeout",
            "conffile", "default_pool_size",
            "max_db_connections", "max_user_connections", "min_pool_size", "reserve_pool_size",
            "reserve_pool_timeout", "server_idle_timeout",
            "ignore_startup_parameters", "listen_addr", "listen_backlog", "listen_port", "log_connections",
            "log_disconnections", "log_pooler_errors", "logfile", "max_client_conn", "max_packet_size",
            "pidfile", "pool_mode", "query_wait_timeout", "server_connect_timeout", "server_lifetime",
            "server_login_retry", "server_reset_query", "server_reset_query_always", "server_round_robin",
            "so_reuseport", "stats_users", "tcp_keepalive", "track_extra_parameters", "unix_socket_dir", "verbose",
            "tcp_keepidle", "tcp_keepintvl", "tcp_keepcnt", "tcp_user_timeout", "tcp_defer_accept",
            "tcp_socket_buffer", "unix_socket_mode", "unix_socket_group", "load_balance_hosts",
            "dns_max_ttl", "dns_nxdomain_ttl",
            "max_prepared_statements", "client_idle_timeout", "query_timeout", "idle_transaction_timeout",
            "transaction_timeout", "cancel_wait_timeout", "max_db_client_connections",
            "max_user_client_connections", "server_check_query", "server_check_delay",
            "application_name_add_host", "disable_pqexec", "autodb_idle_timeout", "server_fast_close",
            "query_wait_notify", "peer_id", "syslog", "syslog_ident", "syslog_facility", "stats_period", "log_stats",
            // TLS; client_tls_ecdhcurve and client_tls_dheparams only as far as the JDK allows (see README).
            "client_tls_sslmode", "client_tls_key_file", "client_tls_cert_file", "client_tls_ca_file",
            "client_tls_protocols", "client_tls_ciphers", "client_tls13_ciphers", "client_tls_ecdhcurve",
            "client_tls_dheparams", "server_tls_sslmode", "server_tls_ca_file", "server_tls_key_file",
            "server_tls_cert_file", "server_tls_protocols", "server_tls_ciphers", "server_tls13_ciphers");

    private Coverage() {
    }

    /** The settings given in the file that this version does not apply yet. */
    static List<String> notApplied(Config config) {
        List<String> names = new ArrayList<>();
        for (Setting s : Setting.all()) {
            if (config.isSet(s.name()) && !APPLIED.contains(s.name()) && !isDefault(config, s)) {
                names.add(s.name());
            }
        }
        return names;
    }

    /** A setting given with its default value changes nothing, applied or not (e.g. client_tls_sslmode = disable). */
    private static boolean isDefault(Config config, Setting s) {
        String value = config.get(s.name());
        String dflt = s.defaultValue();
        if (value == null || dflt == null) {
            return value == null && dflt == null;
        }
        value = value.trim();
        dflt = dflt.trim();
        try {
            return Double.parseDouble(value) == Double.parseDouble(dflt);
        } catch (NumberFormatException e) {
            return value.equalsIgnoreCase(dflt);
        }
    }
}
