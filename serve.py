"""Start the dashboard: ``python serve.py [streamlit options]`` = ``streamlit run app.py``, plus
one fix. Streamlit treats an app with a pages/ folder as a legacy multipage app until a session
has run st.navigation; until then a deep link such as /greek runs pages/greek.py alone, without
app.py's router, layout and sidebar. Declaring the app a st.navigation app before the server
starts makes every link go through the router."""

import sys

from streamlit.runtime.pages_manager import PagesManager
from streamlit.web import cli

if __name__ == "__main__":
    PagesManager.uses_pages_directory = False
    sys.argv = ["streamlit", "run", "app.py", *sys.argv[1:]]
    sys.exit(cli.main())
