using System.Reflection;

namespace LayerStats.Cli;

internal static class ToolInfo
{
    public static string Version { get; } =
        typeof(ToolInfo).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0] ?? "0.0.0";
}

internal static class ResultWritersFacade
{
    public static string Human(long bytes) => LayerStats.Reports.ResultWriters.HumanBytes(bytes);
}
