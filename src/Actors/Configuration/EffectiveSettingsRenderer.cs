using System.Globalization;
using System.Text;
using Akka.Configuration;
using Akka.Configuration.Hocon;
using MailScanner.Actors.Journal;

namespace MailScanner.Actors.Configuration;

/// <summary>
/// The effective settings as HOCON, what <c>check-config</c> prints: every key with the value in force (defaults and the
/// operator's file merged, paths absolute), in a form that reads back as the same settings.
/// </summary>
internal static class EffectiveSettingsRenderer
{
    public static string Render(GatewaySettings s)
    {
        var b = new StringBuilder();
        b.AppendLine("mailscanner {");
        b.AppendLine($"  state-directory = {Quote(s.StateDirectory)}");
        b.AppendLine($"  max-processing-attempts = {s.Journal.MaxProcessingAttempts.ToString(CultureInfo.InvariantCulture)}");
        b.AppendLine("  journal {");
        b.AppendLine($"    enabled = {(s.Journal.Enabled ? "yes" : "no")}");
        b.AppendLine($"    snapshot-every = {s.Journal.SnapshotEvery.ToString(CultureInfo.InvariantCulture)}");
        b.AppendLine($"    write-linger = {Duration(s.Journal.WriteLinger)}");
        b.AppendLine($"    provider = {JournalSettings.ProviderName(s.Journal.Provider)}");
        if (s.Journal.Provider == JournalProvider.PostgreSql) b.AppendLine("    connection-string = \"(set; not shown)\"");
        b.AppendLine($"    # the database: {s.Journal.Location}");
        b.AppendLine("  }");
        b.AppendLine("  queue {");
        b.AppendLine($"    format = {s.Queue.Format}");
        b.AppendLine($"    incoming = {Quote(s.Queue.Incoming)}");
        b.AppendLine($"    outgoing = {Quote(s.Queue.Outgoing)}");
        b.AppendLine($"    work = {Quote(s.Queue.Work)}");
        b.AppendLine($"    bad = {Quote(s.Queue.Bad)}");
        b.AppendLine($"    scan-interval = {Duration(s.Queue.ScanInterval)}");
        b.AppendLine($"    max-in-flight = {s.Queue.MaxInFlight.ToString(CultureInfo.InvariantCulture)}");
        b.AppendLine($"    retry-backoff-min = {Duration(s.Queue.RetryBackoffMin)}");
        b.AppendLine($"    retry-backoff-max = {Duration(s.Queue.RetryBackoffMax)}");
        RenderMtaSections(s.Queue, b);
        b.AppendLine("  }");
        b.AppendLine("  quarantine {");
        b.AppendLine($"    directory = {Quote(s.Quarantine.Directory)}");
        b.AppendLine("  }");
        b.AppendLine("  shutdown {");
        b.AppendLine($"    grace-period = {Duration(s.Shutdown.GracePeriod)}");
        b.AppendLine("  }");
        b.AppendLine("  batch {");
        b.AppendLine($"    coordinators = {s.Batch.Coordinators.ToString(CultureInfo.InvariantCulture)}");
        b.AppendLine($"    max-messages = {s.Batch.MaxMessages.ToString(CultureInfo.InvariantCulture)}");
        b.AppendLine($"    max-bytes = {Size(s.Batch.MaxBytes)}");
        b.AppendLine($"    max-wait = {Duration(s.Batch.MaxWait)}");
        b.AppendLine($"    delete-repeats = {s.Batch.DeleteRepeats.ToString(CultureInfo.InvariantCulture)}");
        b.AppendLine("  }");
        RenderLogging(s.Logging, b);
        RenderCluster(s.Cluster, b);
        b.Append(s.ContentSections);
        b.AppendLine("}");
        return b.ToString();
    }

    /// <summary>Each MTA's own keys, read and checked whatever the format (the loader reads all three), so all three are shown.</summary>
    private static void RenderMtaSections(QueueSettings queue, StringBuilder b)
    {
        b.AppendLine("    postfix {");
        b.AppendLine($"      long-queue-ids = {(queue.Postfix.LongQueueIds ? "yes" : "no")}");
        b.AppendLine($"      hash-queue-names = {Quote(queue.Postfix.HashQueueNames)}");
        b.AppendLine($"      hash-queue-depth = {queue.Postfix.HashQueueDepth.ToString(CultureInfo.InvariantCulture)}");
        b.AppendLine($"      mail-owner = {Quote(queue.Postfix.MailOwner)}");
        b.AppendLine("    }");
        b.AppendLine("    exim {");
        b.AppendLine($"      split-spool-directory = {(queue.Exim.SplitSpoolDirectory ? "yes" : "no")}");
        b.AppendLine($"      user = {Quote(queue.Exim.User)}");
        b.AppendLine($"      deliver-command = {Quote(string.Join(' ', queue.Exim.DeliverCommand))}");
        b.AppendLine("    }");
        b.AppendLine("    sendmail {");
        b.AppendLine($"      user = {Quote(queue.Sendmail.User)}");
        b.AppendLine($"      deliver-command = {Quote(string.Join(' ', queue.Sendmail.DeliverCommand))}");
        b.AppendLine("    }");
    }

    private static void RenderLogging(LoggingSettings logging, StringBuilder b)
    {
        b.AppendLine("  logging {");
        b.AppendLine($"    level = {ConfigValues.SpelledForConfig(logging.Level)}");
        b.AppendLine("    console {");
        b.AppendLine($"      enabled = {(logging.Console is null ? "no" : "yes")}");
        b.AppendLine($"      format = {ConfigValues.SpelledForConfig(logging.Console ?? LogFormat.Plain)}");
        b.AppendLine("    }");
        b.AppendLine("    file {");
        b.AppendLine($"      enabled = {(logging.File is null ? "no" : "yes")}");
        if (logging.File is { } file)
        {
            b.AppendLine($"      path = {Quote(file.Path)}");
            b.AppendLine($"      format = {ConfigValues.SpelledForConfig(file.Format)}");
            b.AppendLine($"      roll = {ConfigValues.SpelledForConfig(file.Roll)}");
            b.AppendLine($"      retained-files = {file.RetainedFiles.ToString(CultureInfo.InvariantCulture)}");
            b.AppendLine($"      max-size = {Size(file.MaxSize)}");
        }
        b.AppendLine("    }");
        b.AppendLine("  }");
    }

    private static void RenderCluster(MailScanner.Actors.Cluster.ClusterSettings cluster, StringBuilder b)
    {
        b.AppendLine("  cluster {");
        b.AppendLine($"    enabled = {(cluster.Enabled ? "yes" : "no")}");
        b.AppendLine($"    hostname = {Quote(cluster.Hostname)}");
        b.AppendLine($"    port = {cluster.Port.ToString(CultureInfo.InvariantCulture)}");
        b.AppendLine($"    seed-nodes = [{string.Join(", ", cluster.SeedNodes.Select(n => Quote(n.ToString())))}]");
        b.AppendLine($"    roles = [{string.Join(", ", cluster.Roles.Select(Quote))}]");
        b.AppendLine($"    oldest-node-shard-weight = {cluster.OldestNodeShardWeight.ToString("0.0##", CultureInfo.InvariantCulture)}");
        b.AppendLine("    split-brain-resolver {");
        b.AppendLine($"      stable-after = {Duration(cluster.StableAfter)}");
        b.AppendLine($"      down-all-when-unstable = {(cluster.DownAllWhenUnstable is { } t ? Duration(t) : "off")}");
        b.AppendLine("    }");
        b.AppendLine("  }");
    }

    private static readonly string[] ContentSectionNames = ["rules", "policy", "scanners", "metrics"];

    /// <summary>
    /// The sections the settings records do not spell out (<c>rules</c>, <c>policy</c>, <c>scanners</c>) as they were
    /// merged, rendered once at load time for <see cref="Render"/>.
    /// </summary>
    internal static string RenderContentSections(Config config)
    {
        var b = new StringBuilder();
        foreach (var name in ContentSectionNames)
        {
            var section = config.GetConfig($"mailscanner.{name}");
            if (section is null || section.IsEmpty) continue;
            b.Append($"  {name} ");
            RenderHocon(section.Root, b, "  ");
            b.AppendLine();
        }
        return b.ToString();
    }

    /// <summary>HOCON that reads back as the same values: every leaf quoted (HOCON reads "30s", "yes" and "5" as before).</summary>
    private static void RenderHocon(HoconValue value, StringBuilder b, string indent)
    {
        if (value.IsObject())
        {
            b.AppendLine("{");
            foreach (var (key, child) in value.GetObject().Items)
            {
                b.Append(indent).Append("  ").Append(Quote(key)).Append(" = ");
                RenderHocon(child, b, indent + "  ");
                b.AppendLine();
            }
            b.Append(indent).Append('}');
        }
        else if (value.IsArray() || value.Values.Any(element => element is HoconArray))
        {
            b.Append('[');
            var first = true;
            foreach (var item in value.GetArray())
            {
                if (!first) b.Append(", ");
                first = false;
                RenderHocon(item, b, indent + "  ");
            }
            b.Append(']');
        }
        else
        {
            b.Append(Quote(value.GetString() ?? ""));
        }
    }

    private static string Quote(string s)
    {
        var b = new StringBuilder(s.Length + 2).Append('"');
        foreach (var c in s)
        {
            switch (c)
            {
                case '"': b.Append("\\\""); break;
                case '\\': b.Append("\\\\"); break;
                case '\n': b.Append("\\n"); break;
                case '\t': b.Append("\\t"); break;
                default: b.Append(c); break;
            }
        }
        return b.Append('"').ToString();
    }

    /// <summary>As HOCON reads it back: whole seconds, else milliseconds, else nanoseconds.</summary>
    internal static string Duration(TimeSpan t)
    {
        if (t.Ticks % TimeSpan.TicksPerSecond == 0) return $"{t.Ticks / TimeSpan.TicksPerSecond}s";
        if (t.Ticks % TimeSpan.TicksPerMillisecond == 0) return $"{t.Ticks / TimeSpan.TicksPerMillisecond}ms";
        return $"{t.Ticks * 100}ns";
    }

    private static string Size(long bytes)
    {
        if (bytes % (1L << 30) == 0) return $"{bytes >> 30}g";
        if (bytes % (1L << 20) == 0) return $"{bytes >> 20}m";
        if (bytes % (1L << 10) == 0) return $"{bytes >> 10}k";
        return bytes.ToString(CultureInfo.InvariantCulture);
    }
}
