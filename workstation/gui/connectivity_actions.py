"""The window's database and PACS entries: the Database tab of the Studies panel, the
File menu's Import into database… and Query/Retrieve…, and Preferences → PACS servers….

The dialogs are imported when first opened, so the window starts without them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QScrollArea, QTabWidget

from workstation.gui.context import AppContext
from workstation.gui.database_browser import DatabaseBrowser, DatabaseOpener

if TYPE_CHECKING:
    from workstation.gui.query_retrieve import QueryRetrieveDialog
    from workstation.gui.server_settings import ServerSettingsDialog


class ConnectivityActions:
    """The Database view in the Studies panel and the menu entries of the database and PACS.

    File → Import into database… (a folder, or a zip or file), File → Query/Retrieve…,
    Preferences → PACS servers…; the window opens database studies through a
    ``DatabaseOpener`` (the same unsaved-work question as opening a folder).
    """

    def __init__(self, window: Any) -> None:
        self.window = window
        self.context: AppContext = window.context
        self.browser = DatabaseBrowser(self.context)
        self.opener = DatabaseOpener(window, self.browser.location)
        self.browser.open_requested.connect(self.opener.open)
        self.dialog: QueryRetrieveDialog | None = None
        self.settings_dialog: ServerSettingsDialog | None = None
        dock = window.browser_dock
        scan_view = dock.widget()
        self.tabs = QTabWidget()
        self.tabs.setObjectName("studiesTabs")
        self.tabs.setUsesScrollButtons(True)  # a narrow dock scrolls its tabs, never widens
        self.tabs.setElideMode(Qt.TextElideMode.ElideRight)
        dock.setWidget(self.tabs)
        self.tabs.addTab(scan_view, "Current scan")
        #: the Database tab: the browser in a scroll area, so a narrow dock stays possible
        self.database_tab = QScrollArea()
        self.database_tab.setWidgetResizable(True)
        self.database_tab.setFrameShape(QFrame.Shape.NoFrame)
        self.database_tab.setWidget(self.browser)
        self.tabs.addTab(self.database_tab, "Database")
        self._listed = False
        self.tabs.currentChanged.connect(self._tab_changed)
        window.scan_loaded.connect(lambda _scan: self.tabs.setCurrentIndex(0))
        self._add_menu_entries(window.menuBar())

    def _add_menu_entries(self, bar: Any) -> None:
        file_menu = bar.actions()[0].menu()
        entries = file_menu.actions()
        anchor = next((a for a in entries if a.menu() is not None), None)  # Recent studies
        self.import_action = file_menu.addAction("&Import into database…", self.import_folder)
        self.import_action.setStatusTip("Copy a DICOM folder into the local database")
        self.import_file_action = file_menu.addAction(
            "Import &zip or file into database…", self.browser.choose_import_file
        )
        self.query_action = file_menu.addAction("&Query/Retrieve…", self.query_retrieve)
        self.query_action.setStatusTip("Search a PACS and retrieve studies into the database")
        if anchor is not None:
            for action in (self.import_action, self.import_file_action, self.query_action):
                file_menu.insertAction(anchor, action)
        preferences = bar.addMenu("&Preferences")
        self.servers_action = preferences.addAction("&PACS servers…", self.server_settings)

    def _tab_changed(self, index: int) -> None:
        if self.tabs.widget(index) is self.database_tab and not self._listed:
            self._listed = self.browser.refresh()

    def show_database(self) -> DatabaseBrowser:
        """Bring the Database view to the front (listing the database)."""
        self.window.browser_dock.show()
        self.tabs.setCurrentWidget(self.database_tab)
        self.browser.refresh()
        return self.browser

    def import_folder(self) -> None:
        """File → Import into database…: choose a folder; the Database view shows the result."""
        self.show_database()
        self.browser.choose_import_folder()

    def query_retrieve(self) -> QueryRetrieveDialog:
        """File → Query/Retrieve…: the dialog (one per window, brought back when open)."""
        from workstation.gui.query_retrieve import QueryRetrieveDialog

        if self.dialog is None:
            self.dialog = QueryRetrieveDialog(
                self.context, on_retrieved=self._retrieved, database_location=self.browser.location
            )
        else:
            self.dialog.reload_servers()
        self.dialog.show()
        self.dialog.raise_()
        return self.dialog

    def _retrieved(self) -> None:
        self.tabs.setCurrentWidget(self.database_tab)
        self.browser.refresh_quietly()

    def server_settings(self) -> ServerSettingsDialog:
        """Preferences → PACS servers…"""
        from workstation.gui.server_settings import ServerSettingsDialog

        dialog = ServerSettingsDialog(self.context)
        if self.dialog is not None:
            dialog.accepted.connect(self.dialog.reload_servers)
        self.settings_dialog = dialog
        dialog.open()
        return dialog


def install_database_and_pacs(window: Any) -> ConnectivityActions:
    """Add the Database view and the database and PACS menu entries to a window."""
    return ConnectivityActions(window)
