"""Operating-system catalog of the simulated estate (the CSAM ``operatingSystem`` object).

Lifecycle values deliberately include Qualys placeholders (``"Not Announced"``, ``",,"``) where a real
catalog would have them, so clients must map them to "unknown" rather than parse them as dates.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class OsEntry:
    """One catalog OS; ``ga``/``eol``/``eos`` are ``YYYY-MM-DD`` or a placeholder string."""

    key: str  # OS family key used by the estate (windows_server, linux_server, ...)
    os_name: str
    full_name: str
    category1: str
    category2: str
    publisher: str
    edition: str
    market_version: str
    version: str
    update: str
    architecture: str
    ga: str
    eol: str
    eos: str
    stage: str
    confidence: str
    qps_os: str  # the QPS HostAsset <os> string

    @property
    def category(self) -> str:
        """``"Windows / Server"`` style combined category."""
        return f"{self.category1} / {self.category2}"

    @property
    def product_name(self) -> str:
        """The catalog product name (no separate ``product`` key exists)."""
        return self.full_name.split(" Build ")[0]


NA = "Not Announced"


def _os(*fields: str) -> OsEntry:
    return OsEntry(*fields)


# fmt: off
OS_CATALOG: tuple[OsEntry, ...] = (
    # key, osName, fullName, category1, category2, publisher, edition, marketVersion, version, update,
    # architecture, gaDate, eolDate, eosDate, stage, lifeCycleConfidence, QPS <os> string
    _os("windows_server", "Windows Server 2022 Standard",
        "Microsoft Windows Server 2022 Standard 21H2 64-bit Build 20348", "Windows", "Server", "Microsoft",
        "Standard", "2022", "10.0.20348", "21H2", "64-bit", "2021-08-18", "2026-10-13", "2031-10-14", "GA",
        "Exact", "Windows Server 2022 Standard 64 bit Edition Version 21H2"),
    _os("windows_server", "Windows Server 2019 Datacenter",
        "Microsoft Windows Server 2019 Datacenter 1809 64-bit Build 17763", "Windows", "Server",
        "Microsoft", "Datacenter", "2019", "10.0.17763", "1809", "64-bit", "2018-11-13", "2024-01-09",
        "2029-01-09", "EOL", "Exact", "Windows Server 2019 Datacenter 64 bit Edition Version 1809"),
    _os("windows_server", "Windows Server 2016 Standard",
        "Microsoft Windows Server 2016 Standard 1607 64-bit Build 14393", "Windows", "Server", "Microsoft",
        "Standard", "2016", "10.0.14393", "1607", "64-bit", "2016-10-15", "2022-01-11", "2027-01-12", "EOL",
        "Exact", "Windows Server 2016 Standard 64 bit Edition Version 1607"),
    _os("windows_server", "Windows Server 2012 R2 Standard",
        "Microsoft Windows Server 2012 R2 Standard 64-bit Build 9600", "Windows", "Server", "Microsoft",
        "Standard", "2012 R2", "6.3.9600", ",,", "64-bit", "2013-11-25", "2018-10-09", "2023-10-10",
        "EOL/EOS", "Exact", "Windows Server 2012 R2 Standard 64 bit Edition"),
    _os("windows_server", "Windows Server 2008 R2 Enterprise",
        "Microsoft Windows Server 2008 R2 Enterprise Service Pack 1 64-bit Build 7601", "Windows", "Server",
        "Microsoft", "Enterprise", "2008 R2", "6.1.7601", "Service Pack 1", "64-bit", "2009-10-22",
        "2015-01-13", "2020-01-14", "EOL/EOS", "Exact",
        "Windows Server 2008 R2 Enterprise 64 bit Edition Service Pack 1"),
    _os("windows_client", "Windows 11 Enterprise",
        "Microsoft Windows 11 Enterprise 23H2 64-bit Build 22631", "Windows", "Client", "Microsoft",
        "Enterprise", "11", "10.0.22631", "23H2", "64-bit", "2023-10-31", NA, "2026-11-10", "GA", "Exact",
        "Windows 11 Enterprise 64 bit Edition Version 23H2"),
    _os("windows_client", "Windows 11 Pro", "Microsoft Windows 11 Pro 22H2 64-bit Build 22621", "Windows",
        "Client", "Microsoft", "Pro", "11", "10.0.22621", "22H2", "64-bit", "2022-09-20", "2024-10-08",
        "2024-10-08", "EOL/EOS", "Exact", "Windows 11 Pro 64 bit Edition Version 22H2"),
    _os("windows_client", "Windows 10 Enterprise",
        "Microsoft Windows 10 Enterprise 22H2 64-bit Build 19045", "Windows", "Client", "Microsoft",
        "Enterprise", "10", "10.0.19045", "22H2", "64-bit", "2022-10-18", "2025-10-14", "2025-10-14",
        "EOL/EOS", "Exact", "Windows 10 Enterprise 64 bit Edition Version 22H2"),
    _os("windows_client", "Windows 10 Pro", "Microsoft Windows 10 Pro 21H2 64-bit Build 19044", "Windows",
        "Client", "Microsoft", "Pro", "10", "10.0.19044", "21H2", "64-bit", "2021-11-16", "2023-06-13",
        "2023-06-13", "EOL/EOS", "Exact", "Windows 10 Pro 64 bit Edition Version 21H2"),
    _os("windows_client", "Windows 7 Professional",
        "Microsoft Windows 7 Professional Service Pack 1 64-bit Build 7601", "Windows", "Client",
        "Microsoft", "Professional", "7", "6.1.7601", "Service Pack 1", "64-bit", "2009-10-22",
        "2015-01-13", "2020-01-14", "EOL/EOS", "Exact",
        "Windows 7 Professional 64 bit Edition Service Pack 1"),
    _os("windows_iot", "Windows 10 IoT Enterprise LTSC 2021",
        "Microsoft Windows 10 IoT Enterprise LTSC 2021 64-bit Build 19044", "Windows", "Client",
        "Microsoft", "IoT Enterprise LTSC", "10", "10.0.19044", "21H2", "64-bit", "2021-11-16",
        "2027-01-12", "2032-01-13", "GA", "Exact", "Windows 10 IoT Enterprise LTSC 2021 64 bit Edition"),
    _os("linux_server", "Ubuntu Linux 22.04.4", "Canonical Ubuntu Linux 22.04.4 LTS", "Linux", "Server",
        "Canonical", "Server", "22.04", "22.04.4", "LTS", "x86_64", "2022-04-21", "2027-04-01",
        "2032-04-09", "GA", "Exact", "Ubuntu / Linux 22.04.4 LTS"),
    _os("linux_server", "Ubuntu Linux 20.04.6", "Canonical Ubuntu Linux 20.04.6 LTS", "Linux", "Server",
        "Canonical", "Server", "20.04", "20.04.6", "LTS", "x86_64", "2020-04-23", "2025-05-31",
        "2030-04-02", "EOL", "Exact", "Ubuntu / Linux 20.04.6 LTS"),
    _os("linux_server", "Red Hat Enterprise Linux Server 8.9",
        "Red Hat Enterprise Linux Server 8.9 (Ootpa)", "Linux", "Server", "Red Hat", "Server", "8", "8.9",
        "Ootpa", "x86_64", "2019-05-07", "2024-05-31", "2029-05-31", "GA", "Exact",
        "Red Hat Enterprise Linux 8.9"),
    _os("linux_server", "Red Hat Enterprise Linux Server 9.3", "Red Hat Enterprise Linux Server 9.3 (Plow)",
        "Linux", "Server", "Red Hat", "Server", "9", "9.3", "Plow", "x86_64", "2022-05-18", "2027-05-31",
        "2032-05-31", "GA", "Exact", "Red Hat Enterprise Linux 9.3"),
    _os("linux_server", "Red Hat Enterprise Linux Server 7.9",
        "Red Hat Enterprise Linux Server 7.9 (Maipo)", "Linux", "Server", "Red Hat", "Server", "7", "7.9",
        "Maipo", "x86_64", "2014-06-10", "2019-08-06", "2024-06-30", "EOL/EOS", "Exact",
        "Red Hat Enterprise Linux Server 7.9"),
    _os("linux_server", "CentOS Linux 7.9.2009", "CentOS Linux 7.9.2009 (Core)", "Linux", "Server",
        "CentOS Project", "Unknown", "7", "7.9.2009", ",,", "x86_64", "2014-07-07", "2020-08-06",
        "2024-06-30", "EOL/EOS", "Approximate", "CentOS Linux 7.9.2009"),
    _os("linux_server", "Debian GNU/Linux 12.5", "Debian GNU/Linux 12.5 (bookworm)", "Linux", "Server",
        "Debian", "Unknown", "12", "12.5", "bookworm", "x86_64", "2023-06-10", "2026-06-10", "2028-06-30",
        "GA", "Approximate", "Debian GNU/Linux 12.5"),
    _os("linux_server", "SUSE Linux Enterprise Server 15 SP5", "SUSE Linux Enterprise Server 15 SP5",
        "Linux", "Server", "SUSE", "Server", "15", "15.5", "SP5", "x86_64", "2023-06-20", "2024-12-31",
        "2031-07-31", "GA", "Exact", "SUSE Linux Enterprise Server 15 SP5"),
    _os("linux_server", "Oracle Linux 8.9", "Oracle Linux 8.9", "Linux", "Server", "Oracle", "Unknown", "8",
        "8.9", ",,", "x86_64", "2019-07-18", "2029-07-31", "2032-07-31", "GA", "Approximate",
        "Oracle Enterprise Linux 8.9"),
    _os("linux_cloud", "Amazon Linux 2", "Amazon Linux 2 (Karoo)", "Linux", "Server", "Amazon", "Unknown",
        "2", "2", "Karoo", "x86_64", "2017-12-19", "2025-06-30", "2026-06-30", "GA", "Approximate",
        "Amazon Linux 2"),
    _os("linux_cloud", "Amazon Linux 2023", "Amazon Linux 2023.4", "Linux", "Server", "Amazon", "Unknown",
        "2023", "2023.4", ",,", "x86_64", "2023-03-15", "2027-06-30", "2029-06-30", "GA", "Approximate",
        "Amazon Linux 2023.4"),
    _os("linux_client", "Ubuntu Linux 22.04.4 Desktop", "Canonical Ubuntu Linux 22.04.4 LTS Desktop",
        "Linux", "Client", "Canonical", "Desktop", "22.04", "22.04.4", "LTS", "x86_64", "2022-04-21",
        "2027-04-01", "2032-04-09", "GA", "Exact", "Ubuntu / Linux 22.04.4 LTS"),
    _os("linux_client", "Fedora Linux 39", "Fedora Linux 39 (Workstation Edition)", "Linux", "Client",
        "Fedora Project", "Workstation", "39", "39", ",", "x86_64", "2023-11-07", "2024-11-26",
        "2024-11-26", "EOL/EOS", "Approximate", "Fedora Linux 39"),
    _os("unix", "Oracle Solaris 11.4", "Oracle Solaris 11.4 SRU 63", "Unix", "Server", "Oracle", "Unknown",
        "11", "11.4", "SRU 63", "sparcv9", "2018-08-28", "2034-11-30", "2037-11-30", "GA", "Exact",
        "Sun Solaris 11.4"),
    _os("unix", "IBM AIX 7.2", "IBM AIX 7.2 TL5", "Unix", "Server", "IBM", "Unknown", "7.2", "7.2.5",
        "TL5 SP6", "ppc64", "2015-12-04", NA, NA, "GA", "Approximate", "IBM AIX 7.2"),
    _os("unix", "HP-UX 11i v3", "HP-UX 11i v3 B.11.31", "Unix", "Server", "Hewlett Packard Enterprise",
        "Unknown", "11i v3", "B.11.31", ",,", "ia64", "2007-02-15", "2025-12-31", NA, "EOL", "Approximate",
        "HP-UX B.11.31"),
    _os("mac", "macOS 14.4 Sonoma", "Apple macOS Sonoma 14.4", "Mac", "Client", "Apple", "Unknown", "14",
        "14.4", "23E214", "arm64", "2023-09-26", NA, NA, "GA", "Approximate", "macOS 14.4"),
    _os("mac", "macOS 13.6 Ventura", "Apple macOS Ventura 13.6", "Mac", "Client", "Apple", "Unknown", "13",
        "13.6", "22G120", "arm64", "2022-10-24", NA, NA, "GA", "Approximate", "macOS 13.6"),
    _os("mac", "macOS 12.7 Monterey", "Apple macOS Monterey 12.7", "Mac", "Client", "Apple", "Unknown",
        "12", "12.7", "21G816", "x86_64", "2021-10-25", "2024-09-16", "2024-09-16", "EOL/EOS",
        "Approximate", "macOS 12.7"),
    _os("mainframe", "IBM z/OS 2.5", "IBM z/OS 2.5", "Mainframe", "Server", "IBM", "Unknown", "2.5", "2.5",
        ",,", "s390x", "2021-09-30", NA, NA, "GA", "Approximate", "IBM z/OS 2.5"),
    _os("network", "Cisco IOS 15.2", "Cisco IOS 15.2(7)E8", "Network Operating System", "Router", "Cisco",
        "Unknown", "15.2", "15.2(7)E8", ",,", ",,", "2012-07-30", NA, NA, "GA", "Approximate",
        "Cisco IOS 15.2(7)E8"),
    _os("network", "Cisco IOS XE 17.3", "Cisco IOS XE 17.3.4a", "Network Operating System", "Switch",
        "Cisco", "Unknown", "17.3", "17.3.4a", ",,", ",,", "2020-08-28", "2022-08-28", "2025-08-31", "EOL",
        "Exact", "Cisco IOS XE 17.3.4a"),
    _os("network", "Cisco NX-OS 9.3", "Cisco NX-OS 9.3(8)", "Network Operating System", "Switch", "Cisco",
        "Unknown", "9.3", "9.3(8)", ",,", ",,", "2019-06-28", NA, NA, "GA", "Approximate",
        "Cisco NX-OS 9.3(8)"),
    _os("network", "Juniper Junos OS 21.4", "Juniper Networks Junos OS 21.4R3", "Network Operating System",
        "Router", "Juniper Networks", "Unknown", "21.4", "21.4R3", ",,", ",,", "2021-12-21", "2024-12-21",
        "2025-06-21", "EOL", "Exact", "JUNOS 21.4R3"),
    _os("network", "Fortinet FortiOS 7.2", "Fortinet FortiOS 7.2.5", "Network Operating System", "Firewall",
        "Fortinet", "Unknown", "7.2", "7.2.5", ",,", ",,", "2022-03-31", "2025-09-30", "2026-03-31", "GA",
        "Exact", "FortiOS 7.2.5"),
    _os("network", "PAN-OS 10.2", "Palo Alto Networks PAN-OS 10.2.4", "Network Operating System",
        "Firewall", "Palo Alto Networks", "Unknown", "10.2", "10.2.4", ",,", ",,", "2022-02-27",
        "2025-08-27", NA, "GA", "Exact", "Palo Alto Networks PAN-OS 10.2.4"),
    _os("network", "ArubaOS 8.10", "Aruba ArubaOS 8.10.0.6", "Network Operating System", "Wireless",
        "Aruba", "Unknown", "8.10", "8.10.0.6", ",,", ",,", "2022-06-06", NA, NA, "GA", "Approximate",
        "ArubaOS 8.10.0.6"),
    _os("network", "F5 BIG-IP TMOS 16.1", "F5 BIG-IP TMOS 16.1.3", "Network Operating System",
        "Load Balancer", "F5", "Unknown", "16.1", "16.1.3", ",,", ",,", "2021-07-01", "2025-07-31", NA,
        "GA", "Exact", "F5 Networks Big-IP 16.1.3"),
    _os("printer", "HP FutureSmart 5.6", "HP FutureSmart Firmware 5.6", "Embedded", "Printer", "HP",
        "Unknown", "5", "5.6", ",,", ",,", NA, NA, NA, "Not Applicable", "Approximate",
        "HP LaserJet Firmware"),
    _os("printer", "Xerox ConnectKey", "Xerox ConnectKey Firmware 75.0", "Embedded", "Printer", "Xerox",
        "Unknown", "75", "75.0", ",,", ",,", NA, NA, NA, "Not Applicable", "Approximate", "Xerox Printer"),
    _os("printer", "Ricoh Web Image Monitor", "Ricoh Printer Firmware 1.12", "Embedded", "Printer", "Ricoh",
        "Unknown", "1", "1.12", ",,", ",,", NA, NA, NA, "Not Applicable", "Approximate", "Ricoh Printer"),
    _os("embedded", "Embedded Linux 4.19", "Embedded Linux Kernel 4.19", "Embedded", "IoT",
        "Linux Foundation", "Unknown", "4", "4.19", ",,", "armv7l", NA, NA, NA, "Not Applicable",
        "Approximate", "Linux 4.19"),
    _os("embedded", "VxWorks 7", "Wind River VxWorks 7", "Embedded", "RTOS", "Wind River", "Unknown", "7",
        "7", ",,", ",,", "2014-03-04", NA, NA, "GA", "Approximate", "Wind River VxWorks"),
    _os("embedded", "SIMATIC S7 Firmware 2.9", "Siemens SIMATIC S7-1500 Firmware 2.9", "Embedded",
        "Industrial", "Siemens", "Unknown", "2", "2.9", ",,", ",,", NA, NA, NA, "Not Applicable",
        "Approximate", "Siemens Simatic S7"),
    _os("unidentified", "Unidentified", "Unidentified", "Unidentified", "Unidentified", ",,", ",,", ",,",
        ",,", ",,", ",,", NA, NA, NA, "Not Applicable", "Unknown", "Unknown"),
    _os("mobile", "Android 14", "Google Android 14", "Mobile", "Android", "Google", "Unknown", "14", "14",
        ",,", "arm64", "2023-10-04", NA, NA, "GA", "Approximate", "Android 14"),
    _os("mobile", "iOS 17.4", "Apple iOS 17.4", "Mobile", "iOS", "Apple", "Unknown", "17", "17.4", ",,",
        "arm64", "2023-09-18", NA, NA, "GA", "Approximate", "iOS 17.4"),
)
# fmt: on

_BY_KEY: dict[str, tuple[int, ...]] = {}
for _i, _entry in enumerate(OS_CATALOG):
    _BY_KEY[_entry.key] = (*_BY_KEY.get(_entry.key, ()), _i)

OS_KEYS: tuple[str, ...] = tuple(_BY_KEY)


def os_indices(key: str) -> tuple[int, ...]:
    """Return the catalog indices of the OS family ``key``."""
    return _BY_KEY[key]


_PLATFORM_BY_OS = {
    "Windows": "windows",
    "Linux": "linux",
    "Mac": "mac",
    "Unix": "unix",
    "Mainframe": "unix",
    "Mobile": "mobile",
}


def platform_of(os_entry: OsEntry) -> str:
    """Software platform (catalog key) of an OS: windows, linux, mac, unix, mobile or embedded."""
    return _PLATFORM_BY_OS.get(os_entry.category1, "embedded")
