"""Software catalog of the simulated estate (CSAM ``softwareListData.software[]`` rows).

The catalog is fixed (independent of the estate seed): a list of real-looking products per platform,
padded with generated entries (Windows KB updates, Linux library packages, Homebrew formulae, AIX
filesets) so a single host can carry up to a few hundred distinct rows.  Each row's JSON is rendered
from a cached per-(product, version) template so a 300-asset page with software stays fast.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from dataclasses import dataclass
from functools import lru_cache

NA = "Not Announced"

# (publisher, product, raw (discovered) name, category1, category2, version, license category,
#  license subcategory)
Row = tuple[str, str, str, str, str, str, str, str]
# fmt: off
_WINDOWS: tuple[Row, ...] = (
    ("Microsoft", "Microsoft Edge", "Microsoft Edge", "Internet", "Web Browsers", "122.0.2365.92",
     "Freeware", "Free"),
    ("Microsoft", "Microsoft Office Professional Plus 2019",
     "Microsoft Office Professional Plus 2019 - en-us", "Office Applications", "Office Suites",
     "16.0.10407.20032", "Commercial", "Perpetual"),
    ("Microsoft", "Microsoft 365 Apps for enterprise", "Microsoft 365 Apps for enterprise - en-us",
     "Office Applications", "Office Suites", "16.0.17328.20184", "Commercial", "Subscription"),
    ("Microsoft", "Microsoft Teams", "Microsoft Teams", "Communication", "Collaboration",
     "24033.811.2738.2546", "Commercial", "Subscription"),
    ("Microsoft", "Microsoft OneDrive", "Microsoft OneDrive", "Storage", "Cloud Storage",
     "24.030.0212.0001", "Freeware", "Free"),
    ("Microsoft", "Microsoft Visual C++ 2015-2022 Redistributable (x64)",
     "Microsoft Visual C++ 2015-2022 Redistributable (x64) - 14.38.33130", "Development",
     "Runtime Libraries", "14.38.33130", "Freeware", "Free"),
    ("Microsoft", "Microsoft Visual C++ 2015-2022 Redistributable (x86)",
     "Microsoft Visual C++ 2015-2022 Redistributable (x86) - 14.38.33130", "Development",
     "Runtime Libraries", "14.38.33130", "Freeware", "Free"),
    ("Microsoft", "Microsoft Visual C++ 2013 Redistributable (x64)",
     "Microsoft Visual C++ 2013 Redistributable (x64) - 12.0.40664", "Development", "Runtime Libraries",
     "12.0.40664", "Freeware", "Free"),
    ("Microsoft", "Microsoft Visual C++ 2012 Redistributable (x64)",
     "Microsoft Visual C++ 2012 Redistributable (x64) - 11.0.61030", "Development", "Runtime Libraries",
     "11.0.61030", "Freeware", "Free"),
    ("Microsoft", "Microsoft Visual C++ 2010 Redistributable (x64)",
     "Microsoft Visual C++ 2010  x64 Redistributable - 10.0.40219", "Development", "Runtime Libraries",
     "10.0.40219", "Freeware", "Free"),
    ("Microsoft", "Microsoft Visual C++ 2008 Redistributable (x86)",
     "Microsoft Visual C++ 2008 Redistributable - x86 9.0.30729.6161", "Development",
     "Runtime Libraries", "9.0.30729.6161", "Freeware", "Free"),
    ("Microsoft", "Microsoft .NET Framework", "Microsoft .NET Framework 4.8", "Development", "Frameworks",
     "4.8.09032", "Freeware", "Free"),
    ("Microsoft", "Microsoft .NET Runtime", "Microsoft .NET Runtime - 6.0.27 (x64)", "Development",
     "Frameworks", "6.0.27", "Open Source", "MIT License"),
    ("Microsoft", "Microsoft ASP.NET Core Shared Framework",
     "Microsoft ASP.NET Core 8.0.2 Shared Framework (x64)", "Development", "Frameworks", "8.0.2",
     "Open Source", "MIT License"),
    ("Microsoft", "Microsoft SQL Server 2019", "Microsoft SQL Server 2019 (64-bit)", "Database",
     "Database Servers", "15.0.4355.3", "Commercial", "Per Core"),
    ("Microsoft", "SQL Server Management Studio", "SQL Server Management Studio", "Database",
     "Database Tools", "19.3.4.0", "Freeware", "Free"),
    ("Microsoft", "Microsoft ODBC Driver 17 for SQL Server", "Microsoft ODBC Driver 17 for SQL Server",
     "Database", "Database Connectivity", "17.10.5.1", "Freeware", "Free"),
    ("Microsoft", "Microsoft OLE DB Driver for SQL Server", "Microsoft OLE DB Driver for SQL Server",
     "Database", "Database Connectivity", "18.6.7.0", "Freeware", "Free"),
    ("Microsoft", "Internet Information Services", "IIS 10.0 Express", "Network Application",
     "Web Servers", "10.0.17763", "Commercial", "Bundled"),
    ("Microsoft", "Microsoft Defender Antivirus", "Windows Defender", "Security", "Anti-Malware",
     "4.18.24020.7", "Commercial", "Bundled"),
    ("Microsoft", "PowerShell", "PowerShell 7-x64", "System Tools", "Command Line Shells", "7.4.1.0",
     "Open Source", "MIT License"),
    ("Microsoft", "Microsoft Update Health Tools", "Microsoft Update Health Tools", "System Tools",
     "Updaters", "5.72.0.0", "Freeware", "Free"),
    ("Microsoft", "Microsoft Exchange Server 2019", "Microsoft Exchange Server 2019 Cumulative Update 13",
     "Communication", "Mail Servers", "15.2.1258.12", "Commercial", "Per Server"),
    ("Microsoft", "Microsoft Silverlight", "Microsoft Silverlight", "Internet", "Browser Plug-ins",
     "5.1.50918.0", "Freeware", "Free"),
    ("Microsoft", "Visual Studio Code", "Microsoft Visual Studio Code", "Development",
     "Integrated Development Environments", "1.87.2", "Open Source", "MIT License"),
    ("Microsoft", "Visual Studio Community 2022", "Visual Studio Community 2022", "Development",
     "Integrated Development Environments", "17.9.34622.214", "Freeware", "Free"),
    ("Microsoft", "Microsoft Power BI Desktop", "Microsoft Power BI Desktop (x64)",
     "Business Intelligence", "Reporting", "2.127.1080.0", "Freeware", "Free"),
    ("Microsoft", "Microsoft Azure CLI", "Microsoft Azure CLI", "Development", "Cloud Tools", "2.58.0",
     "Open Source", "MIT License"),
    ("Microsoft", "Configuration Manager Client", "Configuration Manager Client", "Systems Management",
     "Endpoint Management", "5.00.9122.1000", "Commercial", "Bundled"),
    ("Microsoft", "Microsoft Policy Platform", "Microsoft Policy Platform", "Systems Management",
     "Policy Management", "68.1.1010.0", "Freeware", "Free"),
    ("Microsoft", "Windows Subsystem for Linux", "Windows Subsystem for Linux", "System Tools",
     "Virtualization", "2.1.5.0", "Open Source", "MIT License"),
    ("Adobe", "Adobe Acrobat Reader DC", "Adobe Acrobat Reader DC MUI", "Office Applications",
     "Document Viewers", "24.001.20604", "Freeware", "Free"),
    ("Adobe", "Adobe Flash Player ActiveX", "Adobe Flash Player 32 ActiveX", "Internet",
     "Browser Plug-ins", "32.0.0.465", "Freeware", "Free"),
    ("Adobe", "Adobe Creative Cloud", "Adobe Creative Cloud", "Multimedia", "Graphic Design", "6.1.0.587",
     "Commercial", "Subscription"),
    ("Google", "Google Chrome", "Google Chrome", "Internet", "Web Browsers", "122.0.6261.129", "Freeware",
     "Free"),
    ("Google", "Google Update Helper", "Google Update Helper", "System Tools", "Updaters", "1.3.36.352",
     "Freeware", "Free"),
    ("Mozilla", "Mozilla Firefox", "Mozilla Firefox (x64 en-US)", "Internet", "Web Browsers", "123.0.1",
     "Open Source", "Mozilla Public License 2.0"),
    ("Mozilla", "Mozilla Maintenance Service", "Mozilla Maintenance Service", "System Tools", "Updaters",
     "123.0.1", "Open Source", "Mozilla Public License 2.0"),
    ("Oracle", "Java 8", "Java 8 Update 401 (64-bit)", "Development", "Runtime Environments",
     "8.0.4010.10", "Commercial", "Subscription"),
    ("Oracle", "Java SE Development Kit 17", "Java(TM) SE Development Kit 17.0.10 (64-bit)",
     "Development", "Development Kits", "17.0.10.0", "Commercial", "Subscription"),
    ("Oracle", "Oracle VM VirtualBox", "Oracle VM VirtualBox 7.0.14", "System Tools", "Virtualization",
     "7.0.14", "Open Source", "GPL v2"),
    ("Oracle", "Oracle Database 19c", "Oracle Database 19c Enterprise Edition", "Database",
     "Database Servers", "19.22.0.0", "Commercial", "Per Processor"),
    ("Igor Pavlov", "7-Zip", "7-Zip 23.01 (x64)", "Utilities", "Compression", "23.01", "Open Source",
     "LGPL"),
    ("Don Ho", "Notepad++", "Notepad++ (64-bit x64)", "Utilities", "Text Editors", "8.6.4", "Open Source",
     "GPL v3"),
    ("VMware", "VMware Tools", "VMware Tools", "System Tools", "Virtualization", "12.3.5.22544099",
     "Commercial", "Bundled"),
    ("Citrix", "Citrix Workspace", "Citrix Workspace 2311", "Network Application", "Remote Access",
     "23.11.0.132", "Commercial", "Bundled"),
    ("Cisco", "Cisco Secure Client", "Cisco Secure Client - AnyConnect VPN", "Network Application",
     "VPN Clients", "5.1.2.42", "Commercial", "Subscription"),
    ("Cisco", "Cisco AnyConnect Secure Mobility Client", "Cisco AnyConnect Secure Mobility Client",
     "Network Application", "VPN Clients", "4.10.07073", "Commercial", "Subscription"),
    ("Zoom Video Communications", "Zoom", "Zoom Workplace (64-bit)", "Communication",
     "Video Conferencing", "5.17.11.34827", "Freeware", "Free"),
    ("Slack Technologies", "Slack", "Slack (Machine - MSI)", "Communication", "Collaboration", "4.36.140",
     "Freeware", "Free"),
    ("Qualys", "Qualys Cloud Agent", "Qualys Cloud Security Agent", "Security",
     "Vulnerability Management", "5.2.0.27", "Commercial", "Subscription"),
    ("CrowdStrike", "CrowdStrike Falcon Sensor", "CrowdStrike Windows Sensor", "Security",
     "Endpoint Protection", "7.10.17706.0", "Commercial", "Subscription"),
    ("Splunk", "Splunk Universal Forwarder", "UniversalForwarder", "Systems Management", "Log Management",
     "9.1.3.0", "Commercial", "Bundled"),
    ("Python Software Foundation", "Python", "Python 3.11.7 (64-bit)", "Development",
     "Programming Languages", "3.11.7150.0", "Open Source", "PSF License"),
    ("The Git Development Community", "Git", "Git", "Development", "Source Code Management", "2.43.0",
     "Open Source", "GPL v2"),
    ("Simon Tatham", "PuTTY", "PuTTY release 0.80 (64-bit)", "Network Application", "Remote Access",
     "0.80.0.0", "Open Source", "MIT License"),
    ("Martin Prikryl", "WinSCP", "WinSCP 6.1.2", "Network Application", "File Transfer", "6.1.2",
     "Open Source", "GPL v3"),
    ("TeamViewer", "TeamViewer", "TeamViewer", "Network Application", "Remote Access", "15.51.5.0",
     "Commercial", "Subscription"),
    ("Wireshark Foundation", "Wireshark", "Wireshark 4.2.3 x64", "Network Application",
     "Network Monitoring", "4.2.3", "Open Source", "GPL v2"),
    ("Apache Software Foundation", "Apache Tomcat", "Apache Tomcat 9.0 Tomcat9 (remove only)",
     "Network Application", "Application Servers", "9.0.86", "Open Source", "Apache License 2.0"),
    ("SAP", "SAP GUI for Windows", "SAP GUI for Windows 7.70 (Patch 9)", "Business Applications", "ERP",
     "7.70.9.0", "Commercial", "Bundled"),
    ("Veeam Software", "Veeam Backup & Replication", "Veeam Backup & Replication", "System Tools",
     "Backup", "12.1.1.56", "Commercial", "Per Workload"),
    ("Intel", "Intel Management Engine Components", "Intel(R) Management Engine Components", "Drivers",
     "Chipset", "2312.5.6.0", "Freeware", "Free"),
    ("Intel", "Intel Graphics Driver", "Intel(R) Graphics Driver", "Drivers", "Graphics", "31.0.101.5186",
     "Freeware", "Free"),
    ("Realtek Semiconductor", "Realtek High Definition Audio Driver",
     "Realtek High Definition Audio Driver", "Drivers", "Audio", "6.0.9549.1", "Freeware", "Free"),
    ("Dell", "Dell Command Update", "Dell Command Update for Windows Universal", "System Tools",
     "Updaters", "5.2.0", "Freeware", "Free"),
    ("HP", "HP Support Assistant", "HP Support Assistant", "System Tools", "Support Tools", "9.28.32.0",
     "Freeware", "Free"),
    ("Lenovo", "Lenovo Vantage Service", "Lenovo Vantage Service", "System Tools", "Support Tools",
     "4.0.42.0", "Freeware", "Free"),
)

_LINUX: tuple[Row, ...] = (
    ("OpenSSL Software Foundation", "OpenSSL", "openssl-libs", "Security", "Cryptography", "3.0.7",
     "Open Source", "Apache License 2.0"),
    ("OpenBSD", "OpenSSH Server", "openssh-server", "Network Application", "Remote Access", "8.7p1",
     "Open Source", "BSD License"),
    ("OpenBSD", "OpenSSH Client", "openssh-clients", "Network Application", "Remote Access", "8.7p1",
     "Open Source", "BSD License"),
    ("GNU", "Bash", "bash", "System Tools", "Command Line Shells", "5.1.8", "Open Source", "GPL v3"),
    ("GNU", "Coreutils", "coreutils", "System Tools", "Utilities", "8.32", "Open Source", "GPL v3"),
    ("GNU", "GNU C Library", "glibc", "Development", "Runtime Libraries", "2.34", "Open Source", "LGPL"),
    ("freedesktop.org", "systemd", "systemd", "Operating System", "System Services", "252", "Open Source",
     "LGPL"),
    ("Todd C. Miller", "sudo", "sudo", "Security", "Privilege Management", "1.9.5p2", "Open Source",
     "ISC License"),
    ("curl", "curl", "curl", "Network Application", "File Transfer", "7.76.1", "Open Source",
     "MIT License"),
    ("GNU", "Wget", "wget", "Network Application", "File Transfer", "1.21.1", "Open Source", "GPL v3"),
    ("Vim", "Vim", "vim-minimal", "Utilities", "Text Editors", "8.2.2637", "Open Source", "Vim License"),
    ("Python Software Foundation", "Python", "python3", "Development", "Programming Languages", "3.9.18",
     "Open Source", "PSF License"),
    ("Perl", "Perl", "perl", "Development", "Programming Languages", "5.32.1", "Open Source", "GPL v1"),
    ("F5", "nginx", "nginx", "Network Application", "Web Servers", "1.22.1", "Open Source", "BSD License"),
    ("Apache Software Foundation", "Apache HTTP Server", "httpd", "Network Application", "Web Servers",
     "2.4.57", "Open Source", "Apache License 2.0"),
    ("MariaDB Foundation", "MariaDB Server", "mariadb-server", "Database", "Database Servers", "10.5.22",
     "Open Source", "GPL v2"),
    ("PostgreSQL Global Development Group", "PostgreSQL", "postgresql-server", "Database",
     "Database Servers", "13.14", "Open Source", "PostgreSQL License"),
    ("Docker", "Docker CE", "docker-ce", "System Tools", "Containers", "24.0.7", "Open Source",
     "Apache License 2.0"),
    ("Docker", "containerd", "containerd.io", "System Tools", "Containers", "1.6.28", "Open Source",
     "Apache License 2.0"),
    ("Linux Foundation", "Linux Kernel", "kernel", "Operating System", "Kernels", "5.14.0", "Open Source",
     "GPL v2"),
    ("GNU", "GRUB", "grub2-common", "Operating System", "Boot Loaders", "2.06", "Open Source", "GPL v3"),
    ("Rsyslog", "rsyslog", "rsyslog", "Systems Management", "Log Management", "8.2102.0", "Open Source",
     "GPL v3"),
    ("cronie", "cronie", "cronie", "System Tools", "Schedulers", "1.5.7", "Open Source", "GPL v2"),
    ("chrony", "chrony", "chrony", "Network Application", "Time Synchronization", "4.3", "Open Source",
     "GPL v2"),
    ("IANA", "tzdata", "tzdata", "Operating System", "Data Files", "2024a", "Open Source",
     "Public Domain"),
    ("zlib", "zlib", "zlib", "Development", "Compression Libraries", "1.2.11", "Open Source",
     "zlib License"),
    ("GNOME", "libxml2", "libxml2", "Development", "Parsers", "2.9.13", "Open Source", "MIT License"),
    ("Mozilla", "Network Security Services", "nss", "Security", "Cryptography", "3.90.0", "Open Source",
     "Mozilla Public License 2.0"),
    ("Mozilla", "CA Certificates", "ca-certificates", "Security", "Certificates", "2023.2.60",
     "Open Source", "Mozilla Public License 2.0"),
    ("The Git Development Community", "Git", "git", "Development", "Source Code Management", "2.39.3",
     "Open Source", "GPL v2"),
    ("GNU", "tar", "tar", "Utilities", "Archivers", "1.34", "Open Source", "GPL v3"),
    ("GNU", "gzip", "gzip", "Utilities", "Compression", "1.12", "Open Source", "GPL v3"),
    ("bzip2", "bzip2", "bzip2", "Utilities", "Compression", "1.0.8", "Open Source", "BSD License"),
    ("Tukaani", "XZ Utils", "xz", "Utilities", "Compression", "5.2.5", "Open Source", "Public Domain"),
    ("Samba", "rsync", "rsync", "Network Application", "File Transfer", "3.2.3", "Open Source", "GPL v3"),
    ("GNU", "sed", "sed", "Utilities", "Text Processing", "4.8", "Open Source", "GPL v3"),
    ("GNU", "gawk", "gawk", "Utilities", "Text Processing", "5.1.0", "Open Source", "GPL v3"),
    ("GNU", "grep", "grep", "Utilities", "Text Processing", "3.6", "Open Source", "GPL v3"),
    ("Linux Foundation", "util-linux", "util-linux", "System Tools", "Utilities", "2.37.4", "Open Source",
     "GPL v2"),
    ("procps", "procps-ng", "procps-ng", "System Tools", "Process Monitoring", "3.3.17", "Open Source",
     "GPL v2"),
    ("Linux Foundation", "iproute2", "iproute", "Network Application", "Network Configuration", "6.2.0",
     "Open Source", "GPL v2"),
    ("Netfilter", "iptables", "iptables-libs", "Security", "Firewalls", "1.8.8", "Open Source", "GPL v2"),
    ("firewalld", "firewalld", "firewalld", "Security", "Firewalls", "1.2.5", "Open Source", "GPL v2"),
    ("GNOME", "NetworkManager", "NetworkManager", "Network Application", "Network Configuration",
     "1.44.0", "Open Source", "GPL v2"),
    ("freedesktop.org", "D-Bus", "dbus", "Operating System", "System Services", "1.12.20", "Open Source",
     "GPL v2"),
    ("freedesktop.org", "polkit", "polkit", "Security", "Privilege Management", "0.117", "Open Source",
     "LGPL"),
    ("Red Hat", "audit", "audit", "Security", "Auditing", "3.0.7", "Open Source", "GPL v2"),
    ("Red Hat", "selinux-policy", "selinux-policy-targeted", "Security", "Access Control", "38.1.23",
     "Open Source", "GPL v2"),
    ("Linux-PAM", "Linux PAM", "pam", "Security", "Authentication", "1.5.1", "Open Source", "BSD License"),
    ("MIT", "Kerberos 5", "krb5-libs", "Security", "Authentication", "1.20.1", "Open Source",
     "MIT License"),
    ("OpenLDAP Foundation", "OpenLDAP", "openldap", "Network Application", "Directory Services", "2.6.2",
     "Open Source", "OpenLDAP Public License"),
    ("Red Hat", "SSSD", "sssd-client", "Security", "Authentication", "2.9.1", "Open Source", "GPL v3"),
    ("Samba", "Samba Client", "samba-client-libs", "Network Application", "File Sharing", "4.18.6",
     "Open Source", "GPL v3"),
    ("Linux NFS", "nfs-utils", "nfs-utils", "Network Application", "File Sharing", "2.5.4", "Open Source",
     "GPL v2"),
    ("Red Hat", "LVM2", "lvm2", "System Tools", "Storage Management", "2.03.21", "Open Source", "GPL v2"),
    ("e2fsprogs", "e2fsprogs", "e2fsprogs", "System Tools", "File Systems", "1.46.5", "Open Source",
     "GPL v2"),
    ("SGI", "xfsprogs", "xfsprogs", "System Tools", "File Systems", "6.0.0", "Open Source", "GPL v2"),
    ("Red Hat", "DNF", "dnf", "System Tools", "Package Managers", "4.14.0", "Open Source", "GPL v2"),
    ("RPM", "RPM", "rpm", "System Tools", "Package Managers", "4.16.1.3", "Open Source", "GPL v2"),
    ("Red Hat", "OpenJDK 11", "java-11-openjdk-headless", "Development", "Runtime Environments",
     "11.0.22.0.7", "Open Source", "GPL v2 with Classpath Exception"),
    ("Red Hat", "OpenJDK 17", "java-17-openjdk-headless", "Development", "Runtime Environments",
     "17.0.10.0.7", "Open Source", "GPL v2 with Classpath Exception"),
    ("OpenJS Foundation", "Node.js", "nodejs", "Development", "Runtime Environments", "18.19.1",
     "Open Source", "MIT License"),
    ("The PHP Group", "PHP", "php", "Development", "Programming Languages", "8.0.30", "Open Source",
     "PHP License"),
    ("Redis", "Redis", "redis", "Database", "In-Memory Data Stores", "6.2.14", "Open Source",
     "BSD License"),
    ("Apache Software Foundation", "Apache Tomcat", "tomcat", "Network Application",
     "Application Servers", "9.0.86", "Open Source", "Apache License 2.0"),
    ("HAProxy Technologies", "HAProxy", "haproxy", "Network Application", "Load Balancers", "2.4.22",
     "Open Source", "GPL v2"),
    ("keepalived", "Keepalived", "keepalived", "Network Application", "High Availability", "2.2.8",
     "Open Source", "GPL v2"),
    ("ISC", "BIND", "bind-utils", "Network Application", "DNS", "9.16.23", "Open Source",
     "Mozilla Public License 2.0"),
    ("Postfix", "Postfix", "postfix", "Communication", "Mail Servers", "3.5.9", "Open Source",
     "IBM Public License"),
    ("logrotate", "logrotate", "logrotate", "Systems Management", "Log Management", "3.18.0",
     "Open Source", "GPL v2"),
    ("tmux", "tmux", "tmux", "Utilities", "Terminal Multiplexers", "3.2a", "Open Source", "ISC License"),
    ("htop", "htop", "htop", "System Tools", "Process Monitoring", "3.2.2", "Open Source", "GPL v2"),
    ("jq", "jq", "jq", "Utilities", "Text Processing", "1.6", "Open Source", "MIT License"),
    ("Info-ZIP", "UnZip", "unzip", "Utilities", "Compression", "6.0", "Open Source", "Info-ZIP License"),
    ("lsof", "lsof", "lsof", "System Tools", "Utilities", "4.94.0", "Open Source", "BSD License"),
    ("strace", "strace", "strace", "Development", "Debuggers", "5.18", "Open Source", "LGPL"),
    ("The Tcpdump Group", "tcpdump", "tcpdump", "Network Application", "Network Monitoring", "4.99.0",
     "Open Source", "BSD License"),
    ("net-tools", "net-tools", "net-tools", "Network Application", "Network Configuration", "2.0",
     "Open Source", "GPL v2"),
    ("GNU", "GnuPG", "gnupg2", "Security", "Cryptography", "2.3.3", "Open Source", "GPL v3"),
    ("SQLite", "SQLite", "sqlite-libs", "Database", "Embedded Databases", "3.34.1", "Open Source",
     "Public Domain"),
    ("GNU", "ncurses", "ncurses-libs", "Development", "Runtime Libraries", "6.2", "Open Source",
     "MIT License"),
    ("GNU", "GCC", "gcc", "Development", "Compilers", "11.4.1", "Open Source", "GPL v3"),
    ("GNU", "Make", "make", "Development", "Build Tools", "4.3", "Open Source", "GPL v3"),
    ("Kitware", "CMake", "cmake", "Development", "Build Tools", "3.26.5", "Open Source", "BSD License"),
    ("Qualys", "Qualys Cloud Agent", "qualys-cloud-agent", "Security", "Vulnerability Management",
     "6.1.0.28", "Commercial", "Subscription"),
    ("CrowdStrike", "CrowdStrike Falcon Sensor", "falcon-sensor", "Security", "Endpoint Protection",
     "7.11.0.16405", "Commercial", "Subscription"),
    ("Splunk", "Splunk Universal Forwarder", "splunkforwarder", "Systems Management", "Log Management",
     "9.1.3", "Commercial", "Bundled"),
    ("Amazon", "Amazon SSM Agent", "amazon-ssm-agent", "Systems Management", "Cloud Agents", "3.2.2303.0",
     "Open Source", "Apache License 2.0"),
    ("Canonical", "cloud-init", "cloud-init", "Systems Management", "Provisioning", "23.1.1",
     "Open Source", "GPL v3"),
    ("Microsoft", "Azure Linux Agent", "WALinuxAgent", "Systems Management", "Cloud Agents", "2.7.3.0",
     "Open Source", "Apache License 2.0"),
    ("Google", "Google Guest Agent", "google-guest-agent", "Systems Management", "Cloud Agents",
     "20240213.00", "Open Source", "Apache License 2.0"),
    ("Canonical", "snapd", "snapd", "System Tools", "Package Managers", "2.61.2", "Open Source", "GPL v3"),
    ("Canonical", "AppArmor", "apparmor", "Security", "Access Control", "3.0.4", "Open Source", "GPL v2"),
    ("Debian", "APT", "apt", "System Tools", "Package Managers", "2.4.11", "Open Source", "GPL v2"),
    ("Debian", "dpkg", "dpkg", "System Tools", "Package Managers", "1.21.1", "Open Source", "GPL v2"),
    ("Elastic", "Elasticsearch", "elasticsearch", "Database", "Search Engines", "7.17.18", "Commercial",
     "Elastic License"),
    ("Grafana Labs", "Grafana", "grafana", "Systems Management", "Monitoring", "10.2.3", "Open Source",
     "AGPL v3"),
    ("Prometheus", "Node Exporter", "node_exporter", "Systems Management", "Monitoring", "1.7.0",
     "Open Source", "Apache License 2.0"),
    ("HashiCorp", "Vault", "vault", "Security", "Secrets Management", "1.15.5", "Commercial",
     "Business Source License"),
    ("Oracle", "MySQL Server", "mysql-community-server", "Database", "Database Servers", "8.0.36",
     "Open Source", "GPL v2"),
)

_MAC: tuple[Row, ...] = (
    ("Apple", "Safari", "Safari.app", "Internet", "Web Browsers", "17.4", "Freeware", "Bundled"),
    ("Apple", "Xcode", "Xcode.app", "Development", "Integrated Development Environments", "15.3",
     "Freeware", "Free"),
    ("Apple", "Pages", "Pages.app", "Office Applications", "Word Processors", "14.0", "Freeware", "Free"),
    ("Apple", "Keynote", "Keynote.app", "Office Applications", "Presentation", "14.0", "Freeware", "Free"),
    ("Apple", "Numbers", "Numbers.app", "Office Applications", "Spreadsheets", "14.0", "Freeware", "Free"),
    ("Microsoft", "Microsoft Word", "Microsoft Word.app", "Office Applications", "Word Processors",
     "16.83", "Commercial", "Subscription"),
    ("Microsoft", "Microsoft Excel", "Microsoft Excel.app", "Office Applications", "Spreadsheets",
     "16.83", "Commercial", "Subscription"),
    ("Microsoft", "Microsoft PowerPoint", "Microsoft PowerPoint.app", "Office Applications",
     "Presentation", "16.83", "Commercial", "Subscription"),
    ("Microsoft", "Microsoft Outlook", "Microsoft Outlook.app", "Communication", "Email Clients", "16.83",
     "Commercial", "Subscription"),
    ("Microsoft", "Microsoft Teams", "Microsoft Teams.app", "Communication", "Collaboration",
     "24033.811.2738", "Commercial", "Subscription"),
    ("Microsoft", "Microsoft Defender", "Microsoft Defender.app", "Security", "Anti-Malware",
     "101.24012.0001", "Commercial", "Subscription"),
    ("Google", "Google Chrome", "Google Chrome.app", "Internet", "Web Browsers", "122.0.6261.129",
     "Freeware", "Free"),
    ("Mozilla", "Mozilla Firefox", "Firefox.app", "Internet", "Web Browsers", "123.0.1", "Open Source",
     "Mozilla Public License 2.0"),
    ("Slack Technologies", "Slack", "Slack.app", "Communication", "Collaboration", "4.36.140", "Freeware",
     "Free"),
    ("Zoom Video Communications", "Zoom", "zoom.us.app", "Communication", "Video Conferencing", "5.17.11",
     "Freeware", "Free"),
    ("AgileBits", "1Password", "1Password.app", "Security", "Password Managers", "8.10.27", "Commercial",
     "Subscription"),
    ("Docker", "Docker Desktop", "Docker.app", "System Tools", "Containers", "4.28.0", "Commercial",
     "Subscription"),
    ("George Nachman", "iTerm2", "iTerm.app", "System Tools", "Terminal Emulators", "3.4.23",
     "Open Source", "GPL v2"),
    ("Microsoft", "Visual Studio Code", "Visual Studio Code.app", "Development",
     "Integrated Development Environments", "1.87.2", "Open Source", "MIT License"),
    ("Qualys", "Qualys Cloud Agent", "QualysCloudAgent.app", "Security", "Vulnerability Management",
     "4.9.0.10", "Commercial", "Subscription"),
    ("CrowdStrike", "CrowdStrike Falcon Sensor", "Falcon.app", "Security", "Endpoint Protection",
     "7.10.17706", "Commercial", "Subscription"),
    ("Adobe", "Adobe Acrobat Reader", "Adobe Acrobat Reader.app", "Office Applications",
     "Document Viewers", "24.001.20604", "Freeware", "Free"),
    ("JetBrains", "IntelliJ IDEA", "IntelliJ IDEA.app", "Development",
     "Integrated Development Environments", "2023.3.4", "Commercial", "Subscription"),
    ("Homebrew", "Homebrew", "brew", "System Tools", "Package Managers", "4.2.12", "Open Source",
     "BSD License"),
)

_UNIX: tuple[Row, ...] = (
    ("OpenBSD", "OpenSSH Server", "openssh.base.server", "Network Application", "Remote Access", "9.2p1",
     "Open Source", "BSD License"),
    ("OpenSSL Software Foundation", "OpenSSL", "openssl.base", "Security", "Cryptography", "1.1.2.2200",
     "Open Source", "Apache License 2.0"),
    ("Perl", "Perl", "perl.rte", "Development", "Programming Languages", "5.34.1", "Open Source",
     "GPL v1"),
    ("RPM", "RPM", "rpm.rte", "System Tools", "Package Managers", "4.15.1", "Open Source", "GPL v2"),
    ("IBM", "XL C++ Runtime", "xlC.rte", "Development", "Runtime Libraries", "16.1.0.10", "Commercial",
     "Bundled"),
    ("IBM", "Java 8 SDK", "Java8_64.sdk", "Development", "Runtime Environments", "8.0.0.810",
     "Commercial", "Bundled"),
    ("Oracle", "Oracle Database 19c", "oracle-database-19c", "Database", "Database Servers", "19.22.0.0",
     "Commercial", "Per Processor"),
    ("Python Software Foundation", "Python", "python3", "Development", "Programming Languages", "3.9.18",
     "Open Source", "PSF License"),
    ("Sudo Project", "sudo", "sudo", "Security", "Privilege Management", "1.9.15", "Open Source",
     "ISC License"),
    ("Qualys", "Qualys Cloud Agent", "qualys-cloud-agent", "Security", "Vulnerability Management",
     "1.8.0.11", "Commercial", "Subscription"),
)

_EMBEDDED: tuple[Row, ...] = (
    ("OpenSSL Software Foundation", "OpenSSL", "openssl", "Security", "Cryptography", "1.0.2k",
     "Open Source", "Apache License 2.0"),
    ("BusyBox", "BusyBox", "busybox", "System Tools", "Utilities", "1.31.1", "Open Source", "GPL v2"),
    ("Matt Johnston", "Dropbear SSH", "dropbear", "Network Application", "Remote Access", "2019.78",
     "Open Source", "MIT License"),
    ("lighttpd", "lighttpd", "lighttpd", "Network Application", "Web Servers", "1.4.55", "Open Source",
     "BSD License"),
    ("Net-SNMP", "Net-SNMP", "net-snmp", "Network Application", "Network Monitoring", "5.8",
     "Open Source", "BSD License"),
    ("Embedthis", "GoAhead Web Server", "goahead", "Network Application", "Web Servers", "5.1.1",
     "Open Source", "GPL v2"),
)

_MOBILE: tuple[Row, ...] = (
    ("Microsoft", "Microsoft Outlook", "com.microsoft.Office.Outlook", "Communication", "Email Clients",
     "4.2410.0", "Freeware", "Free"),
    ("Microsoft", "Microsoft Authenticator", "com.microsoft.azureauthenticator", "Security",
     "Authentication", "6.8.5", "Freeware", "Free"),
    ("Microsoft", "Microsoft Teams", "com.microsoft.skype.teams", "Communication", "Collaboration",
     "6.4.0", "Freeware", "Free"),
    ("Microsoft", "Intune Company Portal", "com.microsoft.CompanyPortal", "Systems Management",
     "Endpoint Management", "5.2403.0", "Freeware", "Free"),
    ("Slack Technologies", "Slack", "com.tinyspeck.chatlyio", "Communication", "Collaboration",
     "24.03.10", "Freeware", "Free"),
    ("Zoom Video Communications", "Zoom", "us.zoom.videomeetings", "Communication", "Video Conferencing",
     "5.17.11", "Freeware", "Free"),
    ("Google", "Google Maps", "com.google.Maps", "Internet", "Navigation", "6.107.1", "Freeware", "Free"),
    ("Google", "Google Chrome", "com.google.chrome.ios", "Internet", "Web Browsers", "122.0.6261.89",
     "Freeware", "Free"),
    ("Meta", "WhatsApp Messenger", "net.whatsapp.WhatsApp", "Communication", "Messaging", "24.5.75",
     "Freeware", "Free"),
    ("Cisco", "Cisco Secure Client", "com.cisco.anyconnect", "Network Application", "VPN Clients",
     "5.1.2", "Commercial", "Subscription"),
)

# Generated padding so big hosts can have hundreds of rows.
_LINUX_STEMS: tuple[str, ...] = (
    "acl", "attr", "cap", "ext2fs", "blkid", "mount", "uuid", "seccomp", "sepol", "semanage", "xcrypt",
     "tasn1", "unistring", "idn2", "psl", "brotli", "zstd", "lz4", "archive", "evdev", "drm", "pciaccess",
     "usb1", "gudev", "udev", "nl3", "mnl", "nftnl", "pcap", "ssh2", "nghttp2", "gssapi", "sasl2",
     "ldap4", "tirpc", "nsl2", "pwquality", "cracklib", "gmp", "mpfr", "mpc", "isl", "yaml", "jansson",
     "json-c", "event", "ev", "uv", "xslt", "exslt", "gcrypt", "gpg-error", "assuan", "ksba", "npth",
     "p11-kit", "tss2", "fido2", "cbor", "hidapi", "edit", "readline8", "history", "pipeline", "magic",
     "elf", "dw", "bpf", "ffi", "atomic", "gomp", "quadmath", "stdc++", "gfortran", "png16", "jpeg-turbo",
     "tiff", "webp", "gif", "freetype", "fontconfig", "harfbuzz", "pango", "cairo", "pixman", "glib2",
     "gobject", "gio", "dbus-glib", "polkit-gobject",
)
_LINUX_SUFFIXES = ("", "-devel", "-common", "-utils", "-tools")
_BREW: tuple[str, ...] = (
    "openssl@3", "python@3.12", "git", "wget", "node", "jq", "yq", "ripgrep", "fd", "bat", "fzf", "gh",
     "awscli", "azure-cli", "terraform", "kubectl", "helm", "go", "rust", "ruby", "perl", "sqlite",
     "readline", "xz", "zstd", "lz4", "pcre2", "libyaml", "libffi", "gettext", "icu4c", "ca-certificates",
     "gnupg", "pinentry-mac", "coreutils", "findutils", "gnu-sed", "gawk", "tree", "htop", "tmux",
     "neovim", "ffmpeg", "imagemagick", "postgresql@15", "redis", "mysql", "maven", "gradle",
     "openjdk@17", "pyenv", "nvm",
)

# fmt: on


@dataclass(frozen=True, slots=True)
class SoftwareProduct:
    """A catalog product; per-asset rows pick a version derived from ``base_version``."""

    index: int
    publisher: str
    product: str
    raw_name: str
    category1: str
    category2: str
    base_version: str
    license_category: str
    license_subcategory: str
    ga: str
    eol: str
    eos: str
    stage: str
    install_path: str
    language: str
    software_type: str
    component: str
    with_instances: bool


def _kb_rows(rng: random.Random, count: int) -> list[Row]:
    rows = []
    for kb in sorted(rng.sample(range(4_012_000, 5_036_000), count)):
        kind = rng.choice(("Security Update", "Update", "Cumulative Update", "Servicing Stack Update"))
        rows.append(
            (
                "Microsoft",
                f"{kind} for Microsoft Windows (KB{kb})",
                f"{kind} (KB{kb})",
                "Operating System",
                "Patches",
                f"{rng.randint(1, 12)}.0.{rng.randint(0, 999)}",
                "Commercial",
                "Bundled",
            )
        )
    return rows


def _lob_rows(rng: random.Random, count: int) -> list[Row]:
    vendors = ("Contoso", "Fabrikam", "Northwind Traders", "Tailspin Toys", "Litware", "Adventure Works")
    nouns = (
        "Payroll",
        "Inventory",
        "Timesheet",
        "CRM Connector",
        "Label Printer",
        "Scanner Bridge",
        "Reporting Client",
        "Badge Reader",
        "Kiosk Shell",
        "License Manager",
        "Asset Agent",
    )
    rows = []
    for n in range(count):
        vendor = vendors[n % len(vendors)]
        noun = nouns[(n * 7) % len(nouns)]
        name = f"{vendor} {noun} {n // len(nouns) + 1}"
        rows.append(
            (
                vendor,
                name,
                name,
                "Business Applications",
                "Line of Business",
                f"{rng.randint(1, 9)}.{rng.randint(0, 20)}.{rng.randint(0, 300)}",
                "Commercial",
                ",,",
            )
        )
    return rows


def _linux_pad(rng: random.Random) -> list[Row]:
    rows = []
    for stem in _LINUX_STEMS:
        for suffix in _LINUX_SUFFIXES:
            name = f"lib{stem}{suffix}"
            rows.append(
                (
                    "Linux Community",
                    name,
                    name,
                    "Development",
                    "Runtime Libraries",
                    f"{rng.randint(0, 4)}.{rng.randint(0, 30)}.{rng.randint(0, 12)}",
                    "Open Source",
                    rng.choice(("GPL v2", "LGPL", "MIT License", "BSD License", ",,")),
                )
            )
    return rows


def _brew_rows(rng: random.Random) -> list[Row]:
    return [
        (
            "Homebrew",
            name,
            name,
            "Development",
            "Packages",
            f"{rng.randint(0, 20)}.{rng.randint(0, 20)}.{rng.randint(0, 9)}",
            "Open Source",
            ",,",
        )
        for name in _BREW
    ]


def _aix_rows(rng: random.Random) -> list[Row]:
    groups = ("bos", "devices", "rsct", "X11", "perfagent", "sysmgt", "printers", "xlC", "lwi", "ifor_ls")
    parts = ("rte", "adt", "msg.en_US", "compat", "diag", "loc", "net", "sysmgt", "perf", "security")
    return [
        (
            "IBM",
            f"{g}.{p}",
            f"{g}.{p}",
            "Operating System",
            "Filesets",
            f"7.2.{rng.randint(0, 5)}.{rng.randint(0, 20)}",
            "Commercial",
            "Bundled",
        )
        for g in groups
        for p in parts
    ]


_STAGES = ("GA", "GA", "GA", "EOL", "EOS", "EOL/EOS", "Not Applicable")


def _product(index: int, row: tuple[str, ...], rng: random.Random, platform: str) -> SoftwareProduct:
    publisher, product, raw, cat1, cat2, version, lic_cat, lic_sub = row
    ga_year = rng.randint(2008, 2024)
    ga = f"{ga_year}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    stage = rng.choice(_STAGES)
    roll = rng.random()
    if roll < 0.35:
        eol, eos = NA, NA
    elif roll < 0.45:
        eol, eos = ",,", NA
    else:
        eol = f"{ga_year + rng.randint(2, 8)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        eos = f"{int(eol[:4]) + rng.randint(0, 4)}{eol[4:]}"
    if platform == "windows":
        path = f"C:\\Program Files\\{publisher}\\{product.split(' (')[0]}"
    elif platform == "mac":
        path = f"/Applications/{raw}" if raw.endswith(".app") else f"/opt/homebrew/Cellar/{raw}"
    else:
        path = f"/usr/lib64/{raw}" if raw.startswith("lib") else f"/usr/bin/{raw}"
    instances = product in (
        "Apache Tomcat",
        "Apache HTTP Server",
        "nginx",
        "Docker CE",
        "Oracle Database 19c",
        "Microsoft SQL Server 2019",
        "PostgreSQL",
        "MySQL Server",
    )
    software_type = "Application"
    if cat1 in ("Drivers",):
        software_type = "Driver"
    elif cat2 in ("Patches", "Filesets", "Runtime Libraries", "Packages", "Kernels"):
        software_type = "Package" if platform != "windows" else "Application"
    language = rng.choice(("English", "English", "English", ",,", "Multilingual"))
    component = (
        "Server" if cat2 in ("Web Servers", "Database Servers", "Mail Servers", "Application Servers") else "Client"
    )
    return SoftwareProduct(
        index,
        publisher,
        product,
        raw,
        cat1,
        cat2,
        version,
        lic_cat,
        lic_sub,
        ga,
        eol,
        eos,
        stage,
        path,
        language,
        software_type,
        component,
        instances,
    )


def _build() -> dict[str, tuple[SoftwareProduct, ...]]:
    rng = random.Random(20240229)
    raw: dict[str, list[Row]] = {
        "windows": list(_WINDOWS) + _lob_rows(rng, 60) + _kb_rows(rng, 320),
        "linux": list(_LINUX) + _linux_pad(rng),
        "mac": list(_MAC) + _brew_rows(rng),
        "unix": list(_UNIX) + _aix_rows(rng),
        "embedded": list(_EMBEDDED),
        "mobile": list(_MOBILE),
    }
    catalog: dict[str, tuple[SoftwareProduct, ...]] = {}
    counter = 0
    for platform, rows in raw.items():
        products = []
        for row in rows:
            products.append(_product(counter, row, rng, platform))
            counter += 1
        catalog[platform] = tuple(products)
    return catalog


CATALOG: dict[str, tuple[SoftwareProduct, ...]] = _build()
PRODUCTS: tuple[SoftwareProduct, ...] = tuple(p for products in CATALOG.values() for p in products)

_DIGITS = re.compile(r"(\d+)(?!.*\d)")


def version_of(product: SoftwareProduct, step: int) -> str:
    """Return the product version bumped ``step`` times in its last numeric component."""
    if step == 0:
        return product.base_version
    return _bumped(product.base_version, step)


@lru_cache(maxsize=1 << 16)  # asked for every software row of every page: a few thousand answers
def _bumped(version: str, step: int) -> str:
    match = _DIGITS.search(version)
    if match is None:
        return f"{version}.{step}"
    start, end = match.span(1)
    return f"{version[:start]}{int(match.group(1)) + step}{version[end:]}"


def software_id(product: SoftwareProduct, version: str) -> int:
    """A stable 64-bit id (always above 2**53, so a float parse would corrupt it)."""
    digest = hashlib.sha256(f"{product.publisher}|{product.product}|{version}".encode()).digest()
    return (int.from_bytes(digest[:8], "big") & ((1 << 62) - 1)) | (1 << 62)


def _iso_date(day: str) -> str | None:
    if day in (NA, ",,", ","):
        return day
    return f"{day}T00:00:00.000Z"


_SEP = (",", ":")


@lru_cache(maxsize=32768)
def row_template(product_index: int, version: str) -> tuple[str, str, str]:
    """Return the JSON pieces of one software row around the per-asset date fields.

    The row is ``prefix + '"installDate":...,"installPath":...,"lastUpdated":...,"lastUseDate":...,'
    + suffix``; ``middle`` is the pre-encoded installPath value.
    """
    product = PRODUCTS[product_index]
    vendor = product.publisher.split()[0].lower()
    major = version.split(".")[0]
    head = {
        "id": software_id(product, version),
        "discoverySources": "Cloud Agent" if product.index % 5 else "Cloud Agent, Scanner",
        "fullName": product.product,
        "softwareType": product.software_type,
        "isIgnored": False,
        "ignoredReason": None,
        "category": f"{product.category1} / {product.category2}",
        "category1": product.category1,
        "category2": product.category2,
        "productName": product.product,
        "component": product.component,
        "publisher": product.publisher,
        "edition": "Unknown" if product.index % 3 else ",,",
        "marketVersion": major,
        "version": version,
        "update": ",," if product.index % 4 else "Unknown",
        "architecture": "x64" if product.index % 6 else "x86",
    }
    tail: dict[str, object] = {
        "language": product.language,
        "formerlyKnownAs": None,
        "isPackage": product.software_type == "Package",
        "isPackageComponent": False,
        "packageName": product.raw_name if product.software_type == "Package" else None,
        "productUrl": f"https://www.{product.publisher.split()[0].lower()}.com,," if product.index % 2 else None,
        "lifecycle": {
            "gaDate": _iso_date(product.ga),
            "eolDate": _iso_date(product.eol),
            "eosDate": _iso_date(product.eos),
            "stage": product.stage,
            "lifeCycleConfidence": "Exact" if product.index % 3 else "Approximate",
            "eolSupportStage": "Not Applicable" if product.eol == NA else "End of Life",
            "eosSupportStage": "Not Applicable" if product.eos == NA else "End of Support",
            "detectionScore": 100 if product.index % 4 else 80,
        },
        "supportStageDesc": ",," if product.stage == "GA" else f"{product.stage} announced by publisher",
        "license": {"category": product.license_category, "subcategory": product.license_subcategory},
        "authorization": "Unspecified",
        "discoveredPublisher": product.publisher,
        "discoveredName": product.raw_name,
        "discoveredVersion": version,
        "authorizationDetectionScore": 0,
        "cpeId": None,
        "cpe": f"cpe:2.3:a:{vendor}:{product.raw_name.lower().replace(' ', '_')}:{version}:*:*:*:*:*:*:*",
        "cpeType": "Application",
    }
    if product.with_instances:
        tail["softwareInstances"] = [
            {
                "firstSeen": "2025-03-08T01:15:52.000Z",
                "lastSeen": "2025-12-14T19:20:15.000Z",
                "InstanceName": product.product.upper().replace(" ", "_"),
                "PROC": f"   1487       1 root     {product.install_path}",
                "BIN_PATH": product.install_path,
                "PRODUCT": product.product,
                "VERSION": version,
                "TECHNOLOGY": product.category2,
                "CONF_PATH": f"/etc/{product.raw_name}/",
            }
        ]
    prefix = json.dumps(head, separators=_SEP)[:-1] + ","
    suffix = json.dumps(tail, separators=_SEP)[1:]
    return prefix, json.dumps(product.install_path), suffix
